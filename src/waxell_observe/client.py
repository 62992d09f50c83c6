"""WaxellObserveClient: the handle on a destination (a control plane, or the embedded store).

``WaxellObserveClient.configure(api_url=..., api_key=...)`` sets the process-wide
configuration used by contexts created afterwards. An instance carries its own
configuration; pass it as ``WaxellContext(client=...)`` to send one run elsewhere.
"""

from __future__ import annotations

from typing import Any

from waxell_observe.config import ObserveConfig, get_config, resolve_config, set_config

__all__ = ["WaxellObserveClient"]


class WaxellObserveClient:
    """A configured destination for runs."""

    def __init__(self, api_url: str | None = None, api_key: str | None = None, **options: Any) -> None:
        if api_url is None and api_key is None and not options:
            self.config: ObserveConfig = get_config()
        else:
            self.config = resolve_config(api_url=api_url, api_key=api_key, **options)

    @property
    def api_url(self) -> str:
        return self.config.api_url

    @property
    def api_key(self) -> str:
        return self.config.api_key

    @classmethod
    def configure(cls, api_url: str | None = None, api_key: str | None = None, **options: Any) -> ObserveConfig:
        """Set the global configuration (arguments first, then environment and config file)."""
        config = resolve_config(api_url=api_url, api_key=api_key, **options)
        set_config(config)
        from waxell_observe import plugins

        if plugins._pm is not None:
            plugins._pm.hook.on_configure(config=config)
        return config

    def __repr__(self) -> str:
        return f"WaxellObserveClient(api_url={self.api_url!r})"
