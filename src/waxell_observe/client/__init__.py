"""``WaxellObserveClient``: the control plane's HTTP client, and the handle on a destination.

Every wire-protocol method is a coroutine (``await client.start_run(agent_name="a")``) with a
blocking twin ending in ``_sync`` that takes keyword arguments only
(``client.start_run_sync(agent_name="a")``) and runs the coroutine on the SDK's own event-loop
thread. These methods never raise transport errors: a failure is logged and answered with an
empty value (``{}``, a ``RunInfo`` of empty ids, an ``allow`` result). The exceptions are
``get_prompt`` (``PromptNotFoundError``) and the single-attempt gates
``check_policy_surface_sync`` / ``prompt_guard_gate_sync``, which let their caller decide.

``WaxellObserveClient.configure(api_url=..., api_key=...)`` sets the process-wide configuration
used by runs opened afterwards; an instance passed as ``WaxellContext(client=...)`` sends one
run elsewhere. See ``docs/client.md``. ``httpx`` is imported on first use only.

Layout: ``http.py`` (pools, strict sending), ``transport.py`` (retries, never raising),
``breaker.py`` (the connection breaker), ``loop.py`` (the ``_sync`` thread), ``builders.py``
(request bodies), ``base.py`` (configuration, class-level members), ``runs.py``,
``governance.py``, ``prompts.py``, ``evaluations.py`` (the methods; datasets and experiments).
"""

from __future__ import annotations

from waxell_observe.client.evaluations import EvaluationMethods
from waxell_observe.client.governance import GovernanceMethods
from waxell_observe.client.http import API_PREFIX, DEFAULT_TIMEOUT
from waxell_observe.client.prompts import PromptMethods
from waxell_observe.client.runs import RunMethods
from waxell_observe.transport.errors import ControlPlaneError

__all__ = ["API_PREFIX", "DEFAULT_TIMEOUT", "ControlPlaneError", "WaxellObserveClient"]


class WaxellObserveClient(RunMethods, GovernanceMethods, PromptMethods, EvaluationMethods):
    """A client of a control plane's wire protocol (and a destination for runs).

    ``WaxellObserveClient(api_url=None, api_key=None, prompt_cache_ttl=None)``: unset values
    come from the process-wide configuration (``configure()``, ``WAXELL_*`` variables,
    ``~/.waxell/config``). ``prompt_cache_ttl`` (seconds; default
    :attr:`DEFAULT_PROMPT_CACHE_TTL`, 0 disables the cache) can be changed later.
    """
