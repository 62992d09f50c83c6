"""``chargeback-attribution`` and ``data-residency``: who pays for a run, and where it may run.

* chargeback-attribution (pre-execution; default action warn): the run's metadata (and the signal's
  ``metadata``) must carry at least one of ``required_tags`` (also named ``required_keys``; default
  ``cost_center``, ``chargeback_code``, ``billing_tag``), and every tag listed in ``valid_values`` that is
  present must hold one of its values (compared trimmed, in any case).
* data-residency (pre-execution, ``llm.before``, ``tool.before``, ``memory.write``, ``network.before``):
  the declared ``execution_region`` — the signal's, its ``metadata``'s or the run metadata's — must be in
  ``allowed_regions``. Entries are country codes (``DE``; ``UK`` is ``GB``), region classes (``EU``,
  ``EEA``, ``EFTA``, ``EMEA``, ``NA``, ``LATAM``, ``APAC``, ``MEA``) holding their countries, or cloud
  regions (``eu-west-1``, ``europe-west1``, ``westeurope``) read as the class or country they are in.
  The policy is inactive unless ``allowed_regions`` or ``require_region_declaration`` is given; a run that
  declares no region passes; with an empty ``allowed_regions`` and ``require_region_declaration`` (true)
  every declared region is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..models import ChargebackAttributionPolicy, DataResidencyPolicy
from ..request import PolicyRequest
from .base import ALLOW, EvalContext, Outcome
from .gate import GateEvaluator, norm

__all__ = ["ChargebackAttributionEvaluator", "DataResidencyEvaluator", "region_matches"]

DEFAULT_CHARGEBACK_TAGS = ("cost_center", "chargeback_code", "billing_tag")


def _metadata_sources(request: PolicyRequest) -> list[Mapping[str, Any]]:
    sources: list[Mapping[str, Any]] = []
    signal = request.signal
    if signal:
        nested = signal.get("metadata")
        if isinstance(nested, Mapping):
            sources.append(nested)
    if request.metadata:
        sources.append(request.metadata)
    return sources


class ChargebackAttributionEvaluator(GateEvaluator):
    category = "chargeback-attribution"
    default_action = "warn"

    def __init__(self, policy: ChargebackAttributionPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        tags = r.required_tags if r.required_tags is not None else r.required_keys
        self.tags = tuple(
            t.strip() for t in (tags if tags is not None else DEFAULT_CHARGEBACK_TAGS) if t.strip()
        )
        self.valid = {
            tag.strip(): frozenset(norm(v) for v in values) for tag, values in r.valid_values.items()
        }

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        sources = _metadata_sources(request)
        if self.tags and not any(_present(s.get(t)) for s in sources for t in self.tags):
            return self.violation(
                f"Run carries no chargeback tag (one of: {', '.join(self.tags)})", "required_tags"
            )
        for tag, allowed in self.valid.items():
            value = next((s[tag] for s in sources if _present(s.get(tag))), None)
            if value is not None and norm(value) not in allowed:
                return self.violation(
                    f"Chargeback tag {tag!r} has a value outside its valid values: {value!r}",
                    "valid_values",
                    tag=tag,
                )
        return ALLOW


def _present(value: Any) -> bool:
    return value is not None and (not isinstance(value, str) or bool(value.strip()))


# --------------------------------------------------------------------------- regions

_EU = frozenset("AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split())  # noqa: SIM905
_EFTA = frozenset({"IS", "LI", "NO", "CH"})
_EEA = _EU | frozenset({"IS", "LI", "NO"})
_MEA = frozenset("AE SA QA KW BH OM IL JO LB EG MA DZ TN NG KE ZA GH ET TZ UG RW SN CI TR IQ IR".split())  # noqa: SIM905
_NA = frozenset({"US", "CA", "MX"})
_LATAM = frozenset("MX BR AR CL CO PE UY PY BO EC VE CR PA GT HN SV NI DO CU PR".split())  # noqa: SIM905
_APAC = frozenset("AU NZ CN HK MO TW JP KR IN ID MY SG TH VN PH PK BD LK NP KH LA MM BN MN FJ PG".split())  # noqa: SIM905
REGION_CLASSES: dict[str, frozenset[str]] = {
    "EU": _EU,
    "EEA": _EEA,
    "EFTA": _EFTA,
    "EMEA": _EEA | _EFTA | _MEA | frozenset({"GB", "UA", "RS", "BA", "AL", "MK", "ME", "MD"}),
    "NA": _NA,
    "LATAM": _LATAM,
    "APAC": _APAC,
    "MEA": _MEA,
}
_CLASS_ALIASES = {"EUROPE": "EU", "NORTH_AMERICA": "NA", "NORTHAMERICA": "NA", "ASIA": "APAC", "AMER": "NA"}
_COUNTRY_ALIASES = {"UK": "GB"}
# cloud region prefixes (AWS, GCP, Azure) -> country or class
_CLOUD_PREFIXES: tuple[tuple[str, str], ...] = (
    ("eu-", "EU"), ("europe-", "EU"), ("us-", "US"), ("ca-", "CA"), ("sa-", "BR"), ("ap-", "APAC"),
    ("asia-", "APAC"), ("australia-", "AU"), ("me-", "MEA"), ("af-", "ZA"), ("il-", "IL"),
    ("northamerica-", "NA"), ("southamerica-", "LATAM"),
)  # fmt: skip
_AZURE_WORDS: tuple[tuple[str, str], ...] = (
    ("europe", "EU"), ("uk", "GB"), ("france", "FR"), ("germany", "DE"), ("norway", "NO"),
    ("switzerland", "CH"), ("sweden", "SE"), ("us", "US"), ("canada", "CA"), ("brazil", "BR"),
    ("asia", "APAC"), ("japan", "JP"), ("korea", "KR"), ("india", "IN"), ("australia", "AU"),
    ("uae", "AE"), ("southafrica", "ZA"),
)  # fmt: skip


def _place(value: str) -> str:
    """A region as a country code or a class name (upper case); unknown shapes come back upper-cased."""
    text = value.strip()
    upper = text.upper().replace(" ", "_")
    if upper in REGION_CLASSES:
        return upper
    if upper in _CLASS_ALIASES:
        return _CLASS_ALIASES[upper]
    if len(upper) == 2 and upper.isalpha():
        return _COUNTRY_ALIASES.get(upper, upper)
    lower = text.lower()
    for prefix, place in _CLOUD_PREFIXES:
        if lower.startswith(prefix):
            return place
    for word, place in _AZURE_WORDS:
        if word in lower:
            return place
    return upper


def region_matches(region: str, allowed: str) -> bool:
    """True when ``region`` lies inside ``allowed`` (both country codes, classes or cloud regions)."""
    if norm(region) == norm(allowed):
        return True
    place, scope = _place(region), _place(allowed)
    if place == scope:
        return True
    members = REGION_CLASSES.get(scope)
    if members is None:
        return False
    return place in members or (place in REGION_CLASSES and REGION_CLASSES[place] <= members)


class DataResidencyEvaluator(GateEvaluator):
    category = "data-residency"

    def __init__(self, policy: DataResidencyPolicy) -> None:
        super().__init__(policy)
        r = policy.rules
        self.allowed = tuple(a.strip() for a in r.allowed_regions if a.strip())
        self.active = bool(self.allowed) or "require_region_declaration" in r.model_fields_set
        self.require = r.require_region_declaration
        self._cache: dict[str, bool] = {}

    def decide(self, request: PolicyRequest, phase: str, ctx: EvalContext) -> Outcome:
        if not self.active:
            return ALLOW
        region = ""
        signal = request.signal
        if signal and isinstance(signal.get("execution_region"), str):
            region = signal["execution_region"].strip()
        if not region:
            for source in _metadata_sources(request):
                value = source.get("execution_region")
                if isinstance(value, str) and value.strip():
                    region = value.strip()
                    break
        if not region:
            return ALLOW
        if not self.allowed:
            if self.require:
                return self.violation(
                    f"Execution region {region!r} is not allowed (no region is allowed)",
                    "allowed_regions",
                    execution_region=region,
                )
            return ALLOW
        inside = self._cache.get(region)
        if inside is None:
            inside = any(region_matches(region, a) for a in self.allowed)
            if len(self._cache) < 1024:
                self._cache[region] = inside
        if inside:
            return ALLOW
        return self.violation(
            f"Execution region {region!r} is not allowed (allowed: {', '.join(self.allowed)})",
            "allowed_regions",
            execution_region=region,
        )
