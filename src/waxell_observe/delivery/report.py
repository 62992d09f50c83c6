"""What a flush or shutdown delivered, and what it could not."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DeliveryReport"]


@dataclass
class DeliveryReport:
    """Counts of records handled by one sink (or, merged, by all of them).

    ``sent``: delivered to the destination since the process started; ``dropped``: lost
    because a queue was full or the destination refused them for good (counted, never
    silent); ``pending``: still queued when the flush gave up (its timeout expired);
    ``spooled``: kept on disk for a later delivery.
    """

    sink: str = ""
    sent: int = 0
    dropped: int = 0
    pending: int = 0
    spooled: int = 0
    errors: list[str] = field(default_factory=list)
    sinks: dict[str, DeliveryReport] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when nothing is left pending."""
        return self.pending == 0

    @classmethod
    def merge(cls, reports: list[DeliveryReport]) -> DeliveryReport:
        total = cls(sink="all")
        for report in reports:
            total.sent += report.sent
            total.dropped += report.dropped
            total.pending += report.pending
            total.spooled += report.spooled
            total.errors.extend(report.errors)
            if report.sink:
                total.sinks[report.sink] = report
        return total
