"""Where this process runs: the ``execution_region`` a run's metadata carries (reference SDK §2.1).

Every :class:`~waxell_observe.WaxellContext` (``@observe`` runs included) gets
``metadata["execution_region"]`` and ``metadata["execution_region_source"]`` when the region of the
process is known; a ``metadata`` that already has ``execution_region`` keeps it (its source defaults to
``declared``). The ``data-residency`` policy reads it. The region is looked for once per process, in
this order; the first answer wins:

1. ``WAXELL_EXECUTION_REGION`` (source ``declared``).
2. The region variable a cloud runtime sets (source ``env:<VARIABLE>``), see :data:`CLOUD_VARIABLES`:
   ``AWS_REGION`` (Lambda, ECS, EKS, App Runner, CodeBuild), ``GOOGLE_CLOUD_REGION``, ``FUNCTION_REGION``
   (Cloud Functions), ``AZURE_REGION``, ``REGION_NAME`` (Azure App Service and Functions: only beside
   ``WEBSITE_SITE_NAME``, and turned into the region's name, ``West Europe`` → ``westeurope``),
   ``FLY_REGION`` (Fly.io), ``VERCEL_REGION`` (Vercel), ``RAILWAY_REPLICA_REGION`` (Railway).
   ``AWS_DEFAULT_REGION`` is not read: it is the AWS CLI's default that developer machines export, and
   every AWS runtime that sets it sets ``AWS_REGION`` too.
3. The cloud's instance metadata service (source ``metadata:aws``, ``metadata:gcp``, ``metadata:azure``):
   AWS IMDSv2 (a session token, then ``placement/region``), the GCP metadata server (``instance/zone``
   with ``Metadata-Flavor: Google``; the region is the zone without its last part) and Azure IMDS
   (``compute/location``). Asked only when a local hint names that cloud (:func:`cloud_hints`: the
   machine's DMI strings under ``/sys/class/dmi/id`` — ``Amazon EC2``, ``Google Compute Engine``, Azure's
   chassis asset tag — or, for Google's serverless runtimes, ``K_SERVICE`` / ``CLOUD_RUN_JOB`` /
   ``FUNCTION_TARGET``), so a laptop never sends a probe. Each provider gets 250 ms in all.

Steps 1 and 2 are a few environment look-ups, done by the first context (or ``init()``). Step 3 runs on a
daemon thread that ``init()`` (else the first context) starts: no run ever waits for it. Contexts created
before it answers get what steps 1-2 found (usually nothing); the ones after, its answer. When nothing is
found nothing is written. ``WAXELL_REGION_DETECT=0`` (``false``/``no``/``off``) turns all of it off.

The client's requests use the same region (:func:`waxell_observe.client.builders.region_metadata`), with
the OS locale's country (source ``device_locale``) when this module knows nothing.

For tests only: :data:`_DMI_DIR` and :data:`_ENDPOINTS` name where the hints and the metadata services
are read, :func:`_reset` forgets what was found.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

__all__ = [
    "CLOUD_VARIABLES",
    "DECLARED",
    "PROBE_SECONDS",
    "REGION_KEY",
    "SOURCE_KEY",
    "cloud_hints",
    "declared_region",
    "detection_enabled",
    "region",
    "start",
    "stamp",
    "wait",
]

REGION_KEY = "execution_region"
SOURCE_KEY = "execution_region_source"
DECLARED = "declared"
"""The source of a region the program gave (``WAXELL_EXECUTION_REGION``, or in a run's metadata)."""

PROBE_SECONDS = 0.25
"""What one cloud's metadata service is given, in all (AWS asks twice: token, then region)."""

CLOUD_VARIABLES: tuple[tuple[str, str], ...] = (
    ("AWS_REGION", ""),
    ("GOOGLE_CLOUD_REGION", ""),
    ("FUNCTION_REGION", ""),
    ("AZURE_REGION", ""),
    ("REGION_NAME", "WEBSITE_SITE_NAME"),
    ("FLY_REGION", ""),
    ("VERCEL_REGION", ""),
    ("RAILWAY_REPLICA_REGION", ""),
)
"""(variable, the variable that must be set beside it, ``""`` for none), in the order they are read."""

_OFF = frozenset({"0", "false", "no", "off"})
_MAX_CHARS = 64
_AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"
"""The chassis asset tag of every Azure virtual machine."""
_GCP_SERVERLESS = ("K_SERVICE", "CLOUD_RUN_JOB", "FUNCTION_TARGET")

_DMI_DIR = "/sys/class/dmi/id"
_ENDPOINTS: dict[str, str] = {
    "aws": "http://169.254.169.254",
    "gcp": "http://169.254.169.254",
    "azure": "http://169.254.169.254",
}
"""Base URL of each cloud's metadata service (a link-local address: no DNS look-up to wait for)."""

_lock = threading.Lock()
_found: tuple[str, str] | None = None
"""(region, source) once known: what :func:`stamp` writes."""
_started = False
_probe: threading.Thread | None = None
_probing = False


def detection_enabled() -> bool:
    """False when ``WAXELL_REGION_DETECT`` is ``0``/``false``/``no``/``off``."""
    return (os.environ.get("WAXELL_REGION_DETECT") or "").strip().lower() not in _OFF


def _clean(value: str) -> str:
    """A region as stored: trimmed, a two-letter country upper-cased, at most 64 characters."""
    value = value.strip()
    if len(value) == 2 and value.isalpha():
        return value.upper()
    return value[:_MAX_CHARS]


def declared_region() -> str:
    """``WAXELL_EXECUTION_REGION`` as stored (``""`` when unset or when detection is off)."""
    if not detection_enabled():
        return ""
    return _clean(os.environ.get("WAXELL_EXECUTION_REGION") or "")


def _from_environment() -> tuple[str, str] | None:
    declared = _clean(os.environ.get("WAXELL_EXECUTION_REGION") or "")
    if declared:
        return declared, DECLARED
    environ = os.environ
    for name, beside in CLOUD_VARIABLES:
        value = (environ.get(name) or "").strip()
        if not value or (beside and not environ.get(beside)):
            continue
        if name == "REGION_NAME":  # Azure's display name: "West Europe" is the region "westeurope"
            value = value.replace(" ", "").lower()
        return _clean(value), f"env:{name}"
    return None


def _dmi(name: str) -> str:
    try:
        with open(os.path.join(_DMI_DIR, name), encoding="utf-8", errors="replace") as file:
            return file.read(256).strip()
    except OSError:
        return ""


def cloud_hints() -> tuple[str, ...]:
    """The clouds whose metadata service is worth asking (``"aws"``, ``"gcp"``, ``"azure"``): named by
    the machine's DMI strings, or by a Google serverless runtime's variables. ``()`` on a laptop."""
    hints: list[str] = []
    vendor = f"{_dmi('sys_vendor')} {_dmi('bios_vendor')}".lower()
    versions = f"{_dmi('bios_version')} {_dmi('product_version')}".lower()
    if "amazon" in vendor or "amazon" in versions:  # "Amazon EC2" (Nitro), "4.11.amazon" (Xen)
        hints.append("aws")
    if (
        "google" in vendor
        or _dmi("product_name") == "Google Compute Engine"
        or any(os.environ.get(name) for name in _GCP_SERVERLESS)
    ):
        hints.append("gcp")
    if _dmi("chassis_asset_tag") == _AZURE_ASSET_TAG:
        hints.append("azure")
    return tuple(hints)


def start() -> None:
    """Look for the region (once per process): the environment now, the metadata services on a daemon
    thread when a hint names a cloud. Called by ``init()`` and by the first context."""
    global _found, _started, _probe, _probing
    with _lock:
        if _started:
            return
        _started = True
        if not detection_enabled():
            return
        _found = _from_environment()
        if _found is not None:
            return
        hints = cloud_hints()
        if not hints:
            return
        _probing = True
        _probe = threading.Thread(
            target=_probe_clouds, args=(hints,), name="waxell-region-probe", daemon=True
        )
        _probe.start()


def region() -> tuple[str, str] | None:
    """``(region, source)`` known so far, else ``None`` (starts looking on first use; never waits)."""
    if not _started:
        start()
    return _found


def wait(timeout: float | None = None) -> tuple[str, str] | None:
    """:func:`region` once the metadata services answered (at most ``timeout`` seconds of waiting)."""
    if not _started:
        start()
    probe = _probe
    if probe is not None:
        probe.join(timeout)
    return _found


def stamp(metadata: dict[str, Any] | None) -> dict[str, Any] | None:
    """``metadata`` with the process's region (a new dict; ``metadata`` itself is never changed).

    A ``metadata`` with ``execution_region`` keeps it, with source ``declared`` unless it names one.
    Unchanged (the very object) when no region is known."""
    if metadata and REGION_KEY in metadata:
        if SOURCE_KEY in metadata:
            return metadata
        return {**metadata, SOURCE_KEY: DECLARED}
    found = _found
    if found is None:
        if _started:
            return metadata
        start()
        found = _found
        if found is None:
            return metadata
    if metadata:
        return {**metadata, REGION_KEY: found[0], SOURCE_KEY: found[1]}
    return {REGION_KEY: found[0], SOURCE_KEY: found[1]}


# -- the metadata services (on the probe thread) ---------------------------------------------------


def _probe_clouds(hints: tuple[str, ...]) -> None:
    global _found, _probing
    try:
        for cloud in hints:
            try:
                value = _clean(_ASK[cloud](time.monotonic() + PROBE_SECONDS))
            except Exception:  # noqa: BLE001 - unreachable, refused, timed out, malformed: not this cloud
                continue
            if value:
                _found = (value, f"metadata:{cloud}")
                return
    finally:
        _probing = False


def _request(method: str, url: str, headers: dict[str, str], deadline: float) -> tuple[int, str, Any]:
    """One HTTP request within ``deadline`` (``http.client``: no proxy, no network gate); returns
    (status, body up to 256 bytes, response headers)."""
    import http.client
    from urllib.parse import urlsplit

    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("region probe: out of time")
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=remaining)
    try:
        connection.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers)
        response = connection.getresponse()
        body = response.read(256).decode("utf-8", "replace").strip()
        return response.status, body, response.headers
    finally:
        connection.close()


def _ask_aws(deadline: float) -> str:
    base = _ENDPOINTS["aws"]
    status, token, _ = _request(
        "PUT", f"{base}/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}, deadline
    )
    if status != 200 or not token:
        return ""
    status, body, _ = _request(
        "GET", f"{base}/latest/meta-data/placement/region", {"X-aws-ec2-metadata-token": token}, deadline
    )
    return body if status == 200 else ""


def _ask_gcp(deadline: float) -> str:
    status, body, headers = _request(
        "GET",
        f"{_ENDPOINTS['gcp']}/computeMetadata/v1/instance/zone",
        {"Metadata-Flavor": "Google"},
        deadline,
    )
    if status != 200 or headers.get("Metadata-Flavor") != "Google":
        return ""
    zone = body.rsplit("/", 1)[-1]  # projects/123/zones/europe-west1-b
    return zone.rsplit("-", 1)[0] if zone.count("-") >= 2 else ""


def _ask_azure(deadline: float) -> str:
    status, body, _ = _request(
        "GET",
        f"{_ENDPOINTS['azure']}/metadata/instance/compute/location?api-version=2021-02-01&format=text",
        {"Metadata": "true"},
        deadline,
    )
    return body if status == 200 else ""


_ASK = {"aws": _ask_aws, "gcp": _ask_gcp, "azure": _ask_azure}


def _reset() -> None:
    """Forget what was found, so that the next context looks again (tests; a forked child)."""
    global _found, _started, _probe, _probing, _lock
    _lock = threading.Lock()
    _found = None
    _started = False
    _probe = None
    _probing = False


def _after_fork() -> None:
    """A child forked while the probe ran has no probe thread: it looks again."""
    if _probing:
        _reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
