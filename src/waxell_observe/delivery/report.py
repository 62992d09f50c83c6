"""What a flush or shutdown delivered, and what it could not."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DeliveryReport"]


@dataclass
class DeliveryReport:
    """Counts of records handled by one sink (or, merged, by all of them).

    ``sent``: delivered to the destination since the process started; ``journaled``: recorded
    and safe on disk in the journal but not delivered yet (they are delivered later: by this
    process, by another running one, or by the next one to start); ``pending``: not delivered
    yet when the call returned (for the journaled pipeline the same as ``journaled``; a plugin
    with a memory queue counts its queue here); ``dropped``: lost for good — refused by the
    destination or not journaled because the disk bound was reached — with the count per
    reason in ``drop_reasons``; ``spooled``: kept on disk by a plugin for a later delivery.
    """

    sink: str = ""
    sent: int = 0
    dropped: int = 0
    pending: int = 0
    spooled: int = 0
    journaled: int = 0
    errors: list[str] = field(default_factory=list)
    drop_reasons: dict[str, int] = field(default_factory=dict)
    sinks: dict[str, DeliveryReport] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.journaled and not self.pending:
            self.pending = self.journaled

    @property
    def complete(self) -> bool:
        """True when nothing is left to deliver."""
        return self.pending == 0 and self.journaled == 0

    @classmethod
    def merge(cls, reports: list[DeliveryReport]) -> DeliveryReport:
        total = cls(sink="all")
        for report in reports:
            total.sent += report.sent
            total.dropped += report.dropped
            total.pending += report.pending
            total.spooled += report.spooled
            total.journaled += report.journaled
            total.errors.extend(report.errors)
            for reason, count in report.drop_reasons.items():
                key = f"{report.sink}: {reason}" if report.sink else reason
                total.drop_reasons[key] = total.drop_reasons.get(key, 0) + count
            if report.sink:
                total.sinks[report.sink] = report
        return total
