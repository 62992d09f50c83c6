"""Configuration: one typed object, resolved from arguments, then the environment, then a file.

Resolution order for every setting: an explicit argument (``init(...)``,
``WaxellObserveClient.configure(...)``), then ``WAXELL_*`` environment variables, then the
``[default]`` profile of ``~/.waxell/config`` (INI; keys ``api_url``, ``api_key``, ``debug``,
``capture_content``, ``db``), then the built-in default.

``init()`` resolves a configuration, so this module imports neither :mod:`pathlib` nor
:mod:`configparser` (~5 ms together): paths are strings here (:func:`_posix_path` gives what
``pathlib`` would), the functions returning a ``Path`` import it when called, and the INI parser is
imported only when a configuration file exists.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from waxell_observe.errors import ConfigurationError
from waxell_observe.process import fork_safe

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "ObserveConfig",
    "get_config",
    "current_config",
    "set_config",
    "resolve_config",
    "is_enabled",
    "default_db_path",
    "parse_bool",
]

logger = logging.getLogger("waxell_observe")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_PROMPT_GUARD_ACTIONS = ("block", "warn", "redact")


def parse_bool(value: Any, *, name: str) -> bool:
    """Parse a boolean setting (``1/true/yes/on`` or ``0/false/no/off``, any case)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"{name}: expected a boolean (true/false/1/0/yes/no), got {value!r}")


def _posix_path(path: str) -> str:
    """``str(pathlib.Path(path))`` on a POSIX system: empty and ``.`` parts dropped, ``..`` kept,
    a leading ``//`` kept (POSIX gives it its own meaning), ``"."`` for nothing."""
    root = "//" if path.startswith("//") and not path.startswith("///") else "/" if path[:1] == "/" else ""
    return root + "/".join(part for part in path.split("/") if part and part != ".") or "."


def _home() -> str:
    """``str(Path.home())``."""
    if os.name != "posix":
        from pathlib import Path

        return str(Path.home())
    return _posix_path(os.path.expanduser("~"))


def _absolute(path: str) -> str:
    """``str(Path(path).expanduser().absolute())``."""
    if os.name != "posix":
        from pathlib import Path

        return str(Path(path).expanduser().absolute())
    path = _posix_path(path)
    if path[:1] == "~":  # the first part names a home directory
        first, slash, rest = path.partition("/")
        home = os.path.expanduser(first)
        if home[:1] == "~":
            raise RuntimeError("Could not determine home directory.")  # what pathlib raises
        path = home + slash + rest
    if path[:1] != "/":
        path = os.getcwd() + "/" + path
    return _posix_path(path)


def _default_db() -> str:
    return _home() + "/.waxell/observe.db" if os.name == "posix" else str(default_db_path())


def default_db_path() -> Path:
    """``~/.waxell/observe.db``: where the embedded store lives unless ``WAXELL_DB`` says otherwise."""
    from pathlib import Path

    return Path.home() / ".waxell" / "observe.db"


def _config_file() -> str:
    """:func:`config_file_path` as a string."""
    named = os.environ.get("WAXELL_CONFIG_FILE")
    if os.name != "posix":
        return str(config_file_path())
    return _posix_path(named) if named else _home() + "/.waxell/config"


def config_file_path() -> Path:
    from pathlib import Path

    return Path(os.environ.get("WAXELL_CONFIG_FILE") or Path.home() / ".waxell" / "config")


@dataclasses.dataclass(frozen=True)
class ObserveConfig:
    """The SDK's settings. Immutable: derive a changed copy with :meth:`replace`."""

    api_url: str = ""
    """Control plane base URL. Empty: embedded mode (runs go to the local store)."""
    api_key: str = ""
    """Key sent as ``X-Wax-Key``. May be empty for a local-mode server."""
    db: str = ""
    """Embedded store: a file path or a SQLAlchemy URL. Empty: ``~/.waxell/observe.db``."""
    capture_content: bool = False
    """Store full prompts/responses. Off: previews only."""
    debug: bool = False
    """Log every record at DEBUG level and echo runs to the console."""
    enabled: bool = True
    """``WAXELL_OBSERVE=false`` turns the whole SDK into pass-throughs."""
    preview_chars: int = 500
    """Length at which previews (prompts, responses, messages) are cut when content capture is off."""
    policy_timeout: float = 1.5
    """Seconds a remote policy check may take on the agent's thread."""
    policy_fail_closed: bool = False
    """Block (instead of allow) when a remote policy check cannot be answered."""
    instrument: tuple[str, ...] | None = None
    """Libraries to instrument at ``init()``; ``None``: every installed one."""
    prompt_guard: bool = False
    prompt_guard_action: str = "block"
    prompt_guard_server: bool = False
    otlp_endpoint: str = ""
    resource_attributes: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    max_queue: int = 100_000
    """Kept for compatibility: records are journaled on disk, never queued in memory."""
    journal_dir: str = ""
    """Where records are journaled before delivery. Empty: ``<user data dir>/waxell-observe/journal``."""
    agent_slug: str = ""
    """Sent as ``agent_slug`` when a run starts (``WAXELL_AGENT_SLUG``)."""
    agent_external_id: str = ""
    """Sent as ``agent_id`` when a run starts (``WAXELL_AGENT_EXTERNAL_ID``, else the id a cloud agent
    runtime sets: Bedrock AgentCore, Vertex AI reasoning engine, Azure AI agent)."""
    otel_endpoint: str = ""
    """The reference SDK's ``WAXELL_OTEL_ENDPOINT``: kept, not used for export (``otlp_endpoint`` is)."""
    instrument_infra: bool = True
    """The reference SDK's infrastructure instrumentation switch (``WAXELL_INSTRUMENT_INFRA``); kept only."""
    infra_exclude: str = ""
    """Comma list of infrastructure libraries not to instrument (``WAXELL_INFRA_EXCLUDE``); kept only."""
    interaction_mode: str = "auto"
    """``interactive``, ``autonomous`` or ``auto`` (``WAXELL_INTERACTION_MODE``; anything else: ``auto``)."""
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Options this version does not know, kept for plugins."""
    mode: str = dataclasses.field(init=False, repr=False, compare=False, default="embedded")
    """``"remote"`` when a control plane URL is set, else ``"embedded"`` (derived)."""
    db_url: str = dataclasses.field(init=False, repr=False, compare=False, default="")
    """The embedded store as a SQLAlchemy URL (derived from ``db`` when the configuration is made)."""
    journal_root: str = dataclasses.field(init=False, repr=False, compare=False, default="")
    """The journal directory, absolute (derived from ``journal_dir``)."""

    def __post_init__(self) -> None:
        # Derived once: read on every record by sinks, so plain attributes rather than properties.
        object.__setattr__(self, "mode", "remote" if self.api_url else "embedded")
        object.__setattr__(self, "db_url", db_url_from(self.db))
        object.__setattr__(self, "journal_root", _journal_root(self.journal_dir))
        if self.api_url and not self.api_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"api_url must start with http:// or https://, got {self.api_url!r}")
        if self.prompt_guard_action not in _PROMPT_GUARD_ACTIONS:
            raise ConfigurationError(
                f"prompt_guard_action must be one of {', '.join(_PROMPT_GUARD_ACTIONS)}, "
                f"got {self.prompt_guard_action!r}"
            )
        if self.preview_chars < 0:
            raise ConfigurationError(f"preview_chars must be >= 0, got {self.preview_chars}")
        if self.max_queue < 1:
            raise ConfigurationError(f"max_queue must be >= 1, got {self.max_queue}")
        if self.policy_timeout <= 0:
            raise ConfigurationError(f"policy_timeout must be > 0, got {self.policy_timeout}")

    def replace(self, **changes: Any) -> ObserveConfig:
        return dataclasses.replace(self, **changes)

    @property
    def is_configured(self) -> bool:
        """True when both ``api_url`` and ``api_key`` are set."""
        return bool(self.api_url and self.api_key)

    @classmethod
    def from_env(cls) -> ObserveConfig:
        """A configuration from the environment variables only (no arguments, no file)."""
        values: dict[str, Any] = {}
        _env_values(values)
        return cls(**values)

    @classmethod
    def from_cli_config(
        cls, config_path: str | os.PathLike[str] | None = None, profile: str | None = None
    ) -> ObserveConfig:
        """A configuration from one profile of the INI file ``~/.waxell/config`` (keys: field names).

        The profile is ``profile``, else ``WAX_PROFILE``, else the ``profile`` key of ``[wax]``, else
        ``default``, else the first section other than ``[wax]``. A missing or unreadable file
        gives the default configuration.
        """
        import configparser
        from pathlib import Path

        path = Path(config_path) if config_path else config_file_path()
        parser = configparser.ConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (configparser.Error, OSError, UnicodeDecodeError) as exc:
            logger.warning("waxell-observe: ignoring unreadable config file %s: %s", path, exc)
            return cls()
        sections = [name for name in parser.sections() if name != "wax"]
        name = profile or os.environ.get("WAX_PROFILE") or parser.get("wax", "profile", fallback="")
        if not name:
            name = "default" if "default" in sections else (sections[0] if sections else "")
        if not name or not parser.has_section(name):
            return cls()
        values: dict[str, Any] = {}
        for key, raw in parser.items(name):
            if key in _FIELDS:
                _set_lenient(values, key, raw, source=str(path))
        return cls(**values)


def default_journal_root() -> Path:
    """``<user data dir>/waxell-observe/journal``: on Linux ``$XDG_DATA_HOME`` (else
    ``~/.local/share``) as ``platformdirs`` says, without importing it (~15 ms at ``init()``);
    elsewhere ``platformdirs``."""
    from pathlib import Path

    return Path(_default_journal_root())


def _default_journal_root() -> str:
    """:func:`default_journal_root` as a string."""
    if sys.platform.startswith("linux"):
        data_home = os.environ.get("XDG_DATA_HOME", "")
        base = data_home if data_home.strip() else _home() + "/.local/share"
        return _posix_path(base + "/waxell-observe/journal")
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("waxell-observe", appauthor=False), "journal")


def journal_root_from(journal_dir: str) -> Path:
    from pathlib import Path

    return Path(_journal_root(journal_dir))


def _journal_root(journal_dir: str) -> str:
    """:func:`journal_root_from` as a string (what :attr:`ObserveConfig.journal_root` holds)."""
    return _absolute(journal_dir) if journal_dir else _default_journal_root()


def db_url_from(db: str) -> str:
    """A store location (empty, a path, or a URL) as a SQLAlchemy URL."""
    if not db:
        return f"sqlite:///{_default_db()}"
    if "://" in db:
        if db.startswith("postgres://"):
            db = "postgresql://" + db[len("postgres://") :]
        if db.startswith("postgresql://"):
            return "postgresql+psycopg://" + db[len("postgresql://") :]
        return db
    if db == ":memory:":  # SQLite's in-memory database, not a file of that name
        return "sqlite:///:memory:"
    return f"sqlite:///{_absolute(db)}"


_ENV: dict[str, tuple[str, ...]] = {
    "api_url": ("WAXELL_API_URL", "WAX_API_URL"),
    "api_key": ("WAXELL_API_KEY", "WAX_API_KEY"),
    "db": ("WAXELL_DB",),
    "capture_content": ("WAXELL_CAPTURE_CONTENT",),
    "debug": ("WAXELL_DEBUG",),
    "enabled": ("WAXELL_OBSERVE",),
    "preview_chars": ("WAXELL_PREVIEW_CHARS",),
    "policy_timeout": ("WAXELL_POLICY_TIMEOUT",),
    "policy_fail_closed": ("WAXELL_POLICY_FAIL_CLOSED",),
    "prompt_guard": ("WAXELL_PROMPT_GUARD",),
    "prompt_guard_action": ("WAXELL_PROMPT_GUARD_ACTION",),
    "otlp_endpoint": ("WAXELL_OTLP_ENDPOINT",),
    "otel_endpoint": ("WAXELL_OTEL_ENDPOINT",),
    "instrument_infra": ("WAXELL_INSTRUMENT_INFRA",),
    "infra_exclude": ("WAXELL_INFRA_EXCLUDE",),
    "interaction_mode": ("WAXELL_INTERACTION_MODE",),
    "max_queue": ("WAXELL_MAX_QUEUE",),
    "journal_dir": ("WAXELL_JOURNAL_DIR",),
    "agent_slug": ("WAXELL_AGENT_SLUG",),
    "agent_external_id": (
        "WAXELL_AGENT_EXTERNAL_ID",
        "BEDROCK_AGENTCORE_AGENT_RUNTIME_ID",
        "BEDROCK_AGENTCORE_RUNTIME_ID",
        "VERTEX_AI_REASONING_ENGINE_ID",
        "AZURE_AI_AGENT_ID",
    ),
}
_INTERACTION_MODES = ("interactive", "autonomous", "auto")
_FILE_KEYS = ("api_url", "api_key", "debug", "capture_content", "db", "agent_slug")
_FIELDS = {f.name: f for f in dataclasses.fields(ObserveConfig) if f.init}


def _coerce(name: str, value: Any) -> Any:
    default = _FIELDS[name].default
    if isinstance(default, bool):
        return parse_bool(value, name=name)
    if isinstance(default, int):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigurationError(f"{name}: expected an integer, got {value!r}") from None
    if isinstance(default, float):
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigurationError(f"{name}: expected a number, got {value!r}") from None
    if name == "instrument" and value is not None:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        return tuple(value)
    if name == "prompt_guard_action" and isinstance(value, str):
        return value.strip().lower()
    if name == "interaction_mode":
        mode = value.strip().lower() if isinstance(value, str) else ""
        return mode if mode in _INTERACTION_MODES else "auto"
    return value


def _read_file() -> dict[str, str]:
    path = _config_file()
    if not os.path.isfile(path):
        return {}
    import configparser

    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError) as exc:
        logger.warning("waxell-observe: ignoring unreadable config file %s: %s", path, exc)
        return {}
    if not parser.has_section("default"):
        return {}
    return {k: v for k, v in parser.items("default") if k in _FILE_KEYS}


def _set_lenient(values: dict[str, Any], name: str, raw: str, *, source: str) -> None:
    """Environment and file values never break the agent: a bad one is logged and ignored."""
    try:
        values[name] = _coerce(name, raw)
    except ConfigurationError as exc:
        logger.warning("waxell-observe: ignoring %s from %s: %s", name, source, exc)


def _env_values(values: dict[str, Any]) -> None:
    """Add to ``values`` what the environment sets for the fields ``values`` does not hold yet."""
    for name, env_names in _ENV.items():
        if name in values:
            continue
        for env_name in env_names:
            raw = os.environ.get(env_name)
            if raw:
                _set_lenient(values, name, raw, source=env_name)
                break
    if "otlp_endpoint" not in values and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        values["otlp_endpoint"] = os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"]


def resolve_config(**arguments: Any) -> ObserveConfig:
    """Build a configuration from ``arguments`` (``None``/empty values fall through), env and file.

    Unknown keyword arguments are kept in ``extra`` for plugins.
    """
    file_values = _read_file()
    values: dict[str, Any] = {}
    extra: dict[str, Any] = dict(arguments.pop("extra", None) or {})
    for name, value in arguments.items():
        if name not in _FIELDS:
            extra[name] = value
            continue
        if value is None or (isinstance(value, str) and value == "" and name in _FILE_KEYS):
            continue
        values[name] = _coerce(name, value)
    _env_values(values)
    for name, raw in file_values.items():
        if name not in values:
            _set_lenient(values, name, raw, source=_config_file())
    if extra:
        values["extra"] = extra
    return ObserveConfig(**values)


_lock = fork_safe(threading.Lock())  # a fork waits while another thread resolves the configuration
_current: ObserveConfig | None = None


def get_config() -> ObserveConfig:
    """The process's configuration (resolved from env and file on first use)."""
    config = _current
    if config is None:
        with _lock:
            if _current is None:
                set_config(resolve_config())
            config = _current
    assert config is not None
    return config


def current_config() -> ObserveConfig | None:
    """The process's configuration if it was set or resolved already, else ``None`` (no lookup)."""
    return _current


def set_config(config: ObserveConfig | None) -> None:
    """Replace the process's configuration (``None``: resolve again from env on next use)."""
    global _current
    _current = config


def is_enabled() -> bool:
    """False when ``WAXELL_OBSERVE`` turned the SDK off."""
    return get_config().enabled
