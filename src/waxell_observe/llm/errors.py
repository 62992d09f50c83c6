"""The errors of ``waxell_observe.llm``: a manifest that cannot be had, a name that means no model, no
model able to do what the call needs, a provider that cannot be reached from this process."""

from __future__ import annotations

from waxell_observe.errors import ObserveError

__all__ = [
    "DispatchError",
    "LlmError",
    "ManifestUnauthorized",
    "ManifestUnavailable",
    "ModelNotResolvable",
    "NoCandidateForMode",
    "NoProviderAvailable",
    "MissingProviderSDK",
    "SecretNotInEnvironment",
    "UnsupportedKind",
]


class LlmError(ObserveError):
    """Base class of the errors of ``waxell_observe.llm``."""


class ManifestUnavailable(LlmError):
    """The tenant's LLM manifest could not be fetched (and no earlier copy is cached): ``status`` is the
    HTTP status, or ``None`` when no answer came; ``detail`` what the server or the network said."""

    def __init__(self, message: str, *, status: int | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class ManifestUnauthorized(ManifestUnavailable):
    """The control plane refused the API key (HTTP 401): a cached manifest is not used either."""


class ModelNotResolvable(LlmError):
    """``name`` is neither a model group nor a tenant model of the manifest."""

    def __init__(self, name: str, known: list[str]) -> None:
        shown = ", ".join(repr(k) for k in known[:20]) or "none"
        super().__init__(
            f"{name!r} is not a model group or a tenant model of the LLM manifest (known: {shown})"
        )
        self.name = name
        self.known = known


class NoCandidateForMode(LlmError):
    """``name`` resolves to models, but none of them has the capability ``mode`` needs."""

    def __init__(self, name: str, mode: str, capability: str, rejected: list[str]) -> None:
        super().__init__(
            f"no model behind {name!r} can answer in {mode!r} mode: none of "
            f"{', '.join(rejected)} has {capability} (set it in tenant_models or capability_overrides)"
        )
        self.name = name
        self.mode = mode
        self.capability = capability


class UnsupportedKind(LlmError):
    """A provider instance's ``kind`` is not one this SDK can build a client for."""

    def __init__(self, instance_id: str, kind: str, supported: tuple[str, ...]) -> None:
        super().__init__(
            f"instance {instance_id!r} has kind {kind!r}, which waxell_observe.llm cannot call "
            f"(supported: {', '.join(supported)})"
        )
        self.instance_id = instance_id
        self.kind = kind


class SecretNotInEnvironment(LlmError):
    """A provider instance's ``secret_ref`` names an environment variable that is not set here."""

    def __init__(self, instance_id: str, variable: str) -> None:
        super().__init__(
            f"instance {instance_id!r} takes its API key from the environment variable {variable!r}, "
            "which is not set in this process"
        )
        self.instance_id = instance_id
        self.variable = variable


class MissingProviderSDK(LlmError):
    """The provider library a client needs is not installed."""

    def __init__(self, kind: str, package: str) -> None:
        super().__init__(f"calling a {kind!r} instance needs the {package!r} package: pip install {package}")
        self.kind = kind
        self.package = package


def _failure_lines(failures: list[tuple[str, str]]) -> str:
    return "; ".join(f"{where}: {what}" for where, what in failures) or "no candidates"


class NoProviderAvailable(LlmError):
    """No candidate of ``name`` could be called from this process (unsupported kinds, missing secrets,
    missing base URLs); ``failures`` lists ``(model@instance, why)``."""

    def __init__(self, name: str, failures: list[tuple[str, str]]) -> None:
        super().__init__(f"no provider can be called for {name!r}: {_failure_lines(failures)}")
        self.name = name
        self.failures = failures


class DispatchError(LlmError):
    """The call to ``name`` failed: every candidate tried failed, or one failed in a way no other
    candidate can fix (a 400: the request itself is wrong); ``failures`` lists ``(model@instance, why)``
    in the order they were tried, and ``__cause__`` is the last provider error."""

    def __init__(self, name: str, failures: list[tuple[str, str]]) -> None:
        super().__init__(f"calling {name!r} failed: {_failure_lines(failures)}")
        self.name = name
        self.failures = failures
