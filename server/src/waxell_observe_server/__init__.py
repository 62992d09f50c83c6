"""The self-hostable control plane (``waxell-observe serve``; package ``waxell-observe-server``).

``create_app(store_url)`` builds the FastAPI app: the wire protocol under
``/api/v1/observe/``, the read API under ``/api/v1/read/``, on the same store as embedded mode.
"""

from __future__ import annotations

from waxell_observe_server.app import OPTIONAL_ROUTER_MODULES, ServerSettings, create_app

__all__ = ["create_app", "ServerSettings", "OPTIONAL_ROUTER_MODULES"]
