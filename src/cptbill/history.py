"""What payers actually did: outcomes per payer and code, the code history favours, follow-ups."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from cptbill.codes import MASSAGE_FAMILY, other_massage_code
from cptbill.contract import Status, name_key
from cptbill.models import Claim, Model, Payer, money

COUNTED = (Status.PAID, Status.PARTIAL, Status.DENIED, Status.REVERSED)


class Outcome(Model):
    """One payer's record with one code."""

    payer: str  # name key
    code: str
    paid: int = 0  # claims Paid or Partial
    partial: int = 0
    denied: int = 0
    pending: int = 0
    reversed: int = 0
    paid_total: Decimal = Decimal(0)  # reversals net out
    paid_units: float = 0
    latest_per_unit: Decimal | None = None
    reasons: tuple[str, ...] = ()  # denial and adjustment reasons seen, most common first

    @property
    def per_unit(self) -> Decimal | None:
        """Paid per unit = total paid / total units of the paid claims."""
        if self.paid_units <= 0:
            return None
        return money(self.paid_total / Decimal(str(self.paid_units)))

    @property
    def denial_rate(self) -> float:
        decided = self.paid + self.denied
        return self.denied / decided if decided else 0.0

    @property
    def score(self) -> Decimal:
        """Expected value per unit: paid per unit x (1 - denial rate); never paid = 0."""
        if self.per_unit is None or self.paid == 0:
            return Decimal(0)
        return self.per_unit * Decimal(str(1 - self.denial_rate))

    def describe(self) -> str:
        parts = []
        if self.paid:
            per_unit = f", ${self.per_unit:.2f}/unit" if self.per_unit is not None else ""
            parts.append(f"paid {self.paid}{per_unit}")
        if self.denied:
            parts.append(f"denied {self.denied} of {self.paid + self.denied}")
        return f"{self.code} " + (", ".join(parts) if parts else "no decided claims")


History = Mapping[tuple[str, str], Outcome]


@dataclass
class _Tally:
    counts: Counter[str] = field(default_factory=Counter)
    paid_total: Decimal = Decimal(0)
    paid_units: float = 0.0
    latest_per_unit: Decimal | None = None
    reasons: Counter[str] = field(default_factory=Counter)


_COUNTER = {
    Status.PAID: "paid",
    Status.PARTIAL: "paid",
    Status.DENIED: "denied",
    Status.PENDING: "pending",
    Status.REVERSED: "reversed",
}


def outcomes(claims: Iterable[Claim]) -> dict[tuple[str, str], Outcome]:
    """Outcomes per (payer name key, code), from the claims in sheet order."""
    tallies: dict[tuple[str, str], _Tally] = {}
    for claim in claims:
        if claim.code is None or claim.status is None or not claim.payer.strip():
            continue
        tally = tallies.setdefault((name_key(claim.payer), claim.code), _Tally())
        status = claim.status
        tally.counts[_COUNTER[status]] += 1
        if status is Status.PARTIAL:
            tally.counts["partial"] += 1
        if status is not Status.PENDING and status is not Status.DENIED and claim.paid is not None:
            tally.paid_total += claim.paid
            # A reversal takes back a paid claim: its amount and its units net out.
            units = abs(claim.units)
            tally.paid_units += -units if status is Status.REVERSED else units
            if status is not Status.REVERSED and claim.units > 0:
                tally.latest_per_unit = money(claim.paid / Decimal(str(claim.units)))
        if claim.reason and status is not Status.PENDING:
            for reason in claim.reason.replace(",", ";").split(";"):
                if reason.strip():
                    tally.reasons[reason.strip().upper()] += 1
    return {
        key: Outcome(
            payer=key[0],
            code=key[1],
            paid=t.counts["paid"],
            partial=t.counts["partial"],
            denied=t.counts["denied"],
            pending=t.counts["pending"],
            reversed=t.counts["reversed"],
            paid_total=t.paid_total,
            paid_units=t.paid_units,
            latest_per_unit=t.latest_per_unit,
            reasons=tuple(r for r, _ in t.reasons.most_common()),
        )
        for key, t in tallies.items()
    }


def favoured_code(payer: Payer, history: History) -> tuple[str | None, str]:
    """The massage code this payer's history favours among the codes it takes, and why.

    None when there is no evidence (no decided claims) or the evidence is a tie.
    """
    codes = [code for code in MASSAGE_FAMILY if payer.takes(code)]
    known = {
        code: history[(payer.key, code)]
        for code in codes
        if (payer.key, code) in history
        and history[(payer.key, code)].paid + history[(payer.key, code)].denied > 0
    }
    if not known:
        return None, "no decided claims yet"
    reason = "; ".join(o.describe() for o in known.values())
    scores = {code: outcome.score for code, outcome in known.items()}
    best = max(scores.values())
    if best > 0:
        top = [code for code, score in scores.items() if score == best]
        if len(top) > 1:
            return None, f"tie: {reason}"
        return top[0], reason
    untried = [code for code in codes if code not in known]
    if untried:
        return untried[0], f"{reason}; {untried[0]} not tried yet"
    return None, f"every code denied: {reason}"


def denied_before(payer_key: str, code: str, history: History) -> int:
    outcome = history.get((payer_key, code))
    return outcome.denied if outcome else 0


class Resubmission(Model):
    """A denied massage-code claim not yet retried, and what to send instead."""

    row: int
    date: dt.date | None
    client: str
    payer: str
    denied_code: str
    units: float
    reason: str
    new_code: str | None
    expected: Decimal | None
    note: str


def resubmissions(claims: list[Claim], payers: Mapping[str, Payer]) -> list[Resubmission]:
    """Denied massage-code claims with no later claim for the same client, date and payer."""
    result = []
    for i, claim in enumerate(claims):
        if claim.status is not Status.DENIED or claim.code not in MASSAGE_FAMILY:
            continue
        if any(_same_service(claim, later) for later in claims[i + 1 :]):
            continue
        other = other_massage_code(claim.code)
        payer = payers.get(name_key(claim.payer))
        new_code: str | None = None
        expected = None
        if payer is None:
            note = "payer not on the Payers sheet; check the payer name"
        elif other is None or not payer.takes(other):
            note = f"{payer.name} accepts only {claim.code}; appeal with notes or write off"
        else:
            new_code = other
            rate = payer.rate(other)
            units = Decimal(str(claim.units))
            expected = money(units * rate) if rate is not None else None
            note = f"resubmit as {other}"
        result.append(
            Resubmission(
                row=claim.row,
                date=claim.date,
                client=claim.client,
                payer=claim.payer,
                denied_code=claim.code,
                units=claim.units,
                reason=claim.reason,
                new_code=new_code,
                expected=expected,
                note=note,
            )
        )
    return result


def _same_service(claim: Claim, later: Claim) -> bool:
    return (
        later.date == claim.date
        and name_key(later.client) == name_key(claim.client)
        and name_key(later.payer) == name_key(claim.payer)
    )


class Shortfall(Model):
    """A paid claim that paid less than units x rate."""

    row: int
    date: dt.date | None
    client: str
    payer: str
    code: str
    units: float
    expected: Decimal
    paid: Decimal
    difference: Decimal


def shortfalls(claims: Iterable[Claim], payers: Mapping[str, Payer]) -> list[Shortfall]:
    """Paid or partial claims paid more than a cent below the payer's rate x units."""
    result = []
    for claim in claims:
        if claim.status not in (Status.PAID, Status.PARTIAL) or claim.paid is None or not claim.code:
            continue
        payer = payers.get(name_key(claim.payer))
        rate = payer.rate(claim.code) if payer else None
        if not rate:
            continue
        expected = money(Decimal(str(claim.units)) * rate)
        difference = expected - claim.paid
        if difference > Decimal("0.01"):
            result.append(
                Shortfall(
                    row=claim.row,
                    date=claim.date,
                    client=claim.client,
                    payer=claim.payer,
                    code=claim.code,
                    units=claim.units,
                    expected=expected,
                    paid=claim.paid,
                    difference=difference,
                )
            )
    return result
