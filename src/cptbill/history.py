"""What payers actually did: outcomes per payer and code, the code history favours, follow-ups."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from cptbill.codes import MASSAGE_FAMILY, other_massage_code
from cptbill.contract import Status, name_key
from cptbill.models import CENT, Claim, Model, Payer, money

#: Statuses that tell what a payer did; Pending does not count yet.
COUNTED = (Status.PAID, Status.PARTIAL, Status.DENIED, Status.REVERSED)
#: Statuses of a claim the payer paid (in full or in part).
PAID = (Status.PAID, Status.PARTIAL)


def net_paid(claim: Claim) -> Decimal:
    """What a claim adds to the money received: a reversal takes its amount back, whatever its sign."""
    if claim.paid is None or claim.status not in (*PAID, Status.REVERSED):
        return Decimal(0)
    return -abs(claim.paid) if claim.status is Status.REVERSED else claim.paid


class Outcome(Model):
    """One payer's record with one code."""

    payer: str  # name key
    code: str
    paid: int = 0  # claims Paid or Partial (a reversal nets out money and units, not this count)
    partial: int = 0
    denied: int = 0
    pending: int = 0
    reversed: int = 0
    paid_total: Decimal = Decimal(0)  # reversals net out
    paid_units: float = 0  # units of the paid claims, reversals net out
    latest_per_unit: Decimal | None = None  # of the paid claim with the latest date of service
    reasons: tuple[str, ...] = ()  # denial reasons seen, most common first

    @property
    def decided(self) -> int:
        return self.paid + self.denied

    @property
    def per_unit(self) -> Decimal | None:
        """Paid per unit = total paid / total units of the paid claims."""
        if self.paid_units <= 0:
            return None
        return money(self.paid_total / Decimal(str(self.paid_units)))

    @property
    def denial_rate(self) -> float:
        """Denied / (paid + denied); 0 with no decided claims."""
        return self.denied / self.decided if self.decided else 0.0

    @property
    def score(self) -> Decimal:
        """Expected value per unit, in cents: paid per unit x (1 - denial rate); never paid = 0."""
        per_unit = self.per_unit
        if per_unit is None or per_unit <= 0 or self.paid == 0:
            return Decimal(0)
        return money(per_unit * self.paid / self.decided)

    def describe(self) -> str:
        """A few words of evidence: `97124 paid 5, $31.20/unit` or `97140 denied 3 of 3`."""
        parts = []
        if self.paid:
            per_unit = f", ${self.per_unit:.2f}/unit" if self.per_unit is not None else ""
            parts.append(f"paid {self.paid}{per_unit}")
        if self.denied:
            parts.append(f"denied {self.denied} of {self.decided}")
        return f"{self.code} " + (", ".join(parts) if parts else "no paid or denied claims")


History = Mapping[tuple[str, str], Outcome]


@dataclass
class _Tally:
    counts: Counter[str] = field(default_factory=Counter)
    paid_total: Decimal = Decimal(0)
    paid_units: float = 0.0
    latest: tuple[dt.date, Decimal] | None = None
    reasons: Counter[str] = field(default_factory=Counter)


def _compact(text: str) -> str:
    """Names and payer IDs as compared with ERA names: case and all spaces ignored."""
    return "".join(text.split()).casefold()


def payer_matcher(payers: Iterable[Payer]) -> Callable[[str, Sequence[str]], str | None]:
    """payer_of(name, ids) -> the Payers-sheet name whose name or ERA names match an ID or the name."""
    known: dict[str, str] = {}
    for payer in payers:
        for alias in (payer.name, *payer.era_names):
            if _compact(alias):
                known.setdefault(_compact(alias), payer.name)

    def payer_of(name: str, ids: Sequence[str]) -> str | None:
        for candidate in (*ids, name):
            if _compact(candidate) in known:
                return known[_compact(candidate)]
        return None

    return payer_of


def with_payer_names(claims: Sequence[Claim], payers: Mapping[str, Payer]) -> list[Claim]:
    """Claims rows under their Payers-sheet names: a remittance's name found in `ERA names` is mapped.

    Applied whenever Claims rows are read, so a name added to ERA names later fixes earlier rows.
    """
    payer_of = payer_matcher(payers.values())
    result = []
    for claim in claims:
        if name_key(claim.payer) not in payers:
            mapped = payer_of(claim.payer, ())
            if mapped is not None:
                claim = claim.model_copy(update={"payer": mapped})
        result.append(claim)
    return result


def split_reasons(text: str) -> list[str]:
    """Reason codes as written (`CO-45; PR-2` or `CO-45, PR-2`), upper case, blanks dropped."""
    return [part.strip().upper() for part in re.split(r"[;,]", text) if part.strip()]


def outcomes(claims: Iterable[Claim]) -> dict[tuple[str, str], Outcome]:
    """Outcomes per (payer name key, code), from the claims in sheet order."""
    tallies: dict[tuple[str, str], _Tally] = {}
    for claim in claims:
        if claim.code is None or claim.status is None or not claim.payer.strip():
            continue
        tally = tallies.setdefault((name_key(claim.payer), claim.code), _Tally())
        status = claim.status
        tally.counts[status.value] += 1
        if status is Status.DENIED:
            tally.reasons.update(split_reasons(claim.reason))
        if claim.paid is None or status not in (*PAID, Status.REVERSED):
            continue
        # A reversal takes back a payment: its amount and its units net out.
        units = abs(claim.units)
        tally.paid_total += net_paid(claim)
        tally.paid_units += -units if status is Status.REVERSED else units
        if status is not Status.REVERSED and units > 0:
            when = claim.date or dt.date.min  # ties: the lower row, entered later, wins
            if tally.latest is None or when >= tally.latest[0]:
                tally.latest = (when, money(claim.paid / Decimal(str(units))))
    return {
        key: Outcome(
            payer=key[0],
            code=key[1],
            paid=t.counts[Status.PAID.value] + t.counts[Status.PARTIAL.value],
            partial=t.counts[Status.PARTIAL.value],
            denied=t.counts[Status.DENIED.value],
            pending=t.counts[Status.PENDING.value],
            reversed=t.counts[Status.REVERSED.value],
            paid_total=t.paid_total,
            paid_units=t.paid_units,
            latest_per_unit=t.latest[1] if t.latest else None,
            reasons=tuple(r for r, _ in t.reasons.most_common()),
        )
        for key, t in tallies.items()
    }


def favoured_code(payer: Payer, history: History) -> tuple[str | None, str]:
    """The massage code this payer's history favours among the codes it takes, and why.

    The rule, in order:
    - only Paid, Partial and Denied claims are evidence; a code with none is "not tried";
    - no code tried: no preference (None), the caller uses its default;
    - the highest score (paid per unit x (1 - denial rate), in cents) wins when it is above 0;
      two codes with the same score: a tie, no preference;
    - every tried code scores 0 (denied and never paid): a code not tried yet wins, as a
      therapist would resubmit with the other code; with none left, no preference.
    The reason lists the evidence, the favoured code's last.
    """
    codes = [code for code in MASSAGE_FAMILY if payer.takes(code)]
    known = {
        code: history[(payer.key, code)]
        for code in codes
        if (payer.key, code) in history and history[(payer.key, code)].decided > 0
    }
    if not known:
        return None, "no paid or denied claims yet"
    scores = {code: outcome.score for code, outcome in known.items()}
    best = max(scores.values())
    if best > 0:
        top = [code for code, score in scores.items() if score == best]
        if len(top) > 1:
            return None, "tie: " + _evidence(known.values())
        return top[0], _evidence(known.values(), last=top[0])
    untried = [code for code in codes if code not in known]
    if untried:
        return untried[0], f"{_evidence(known.values())}; {untried[0]} not tried yet"
    return None, "no code paid yet: " + _evidence(known.values())


def _evidence(outcomes: Iterable[Outcome], last: str | None = None) -> str:
    ordered = sorted(outcomes, key=lambda o: (o.code == last, o.code))
    return "; ".join(o.describe() for o in ordered)


def learned_text(payer: Payer, history: History) -> str:
    """The Payers sheet's Learned cell: `97124 — 97140 denied 3 of 3; 97124 paid 5, $31.20/unit`."""
    code, why = favoured_code(payer, history)
    text = f"{code} — {why}" if code else f"no preference — {why}"
    accepted = [c for c in MASSAGE_FAMILY if payer.takes(c)]
    if len(accepted) == 1 and code != accepted[0]:
        text += f" (accepts only {accepted[0]})"
    elif payer.preferred and payer.preferred != code:
        text += f" (Preferred {payer.preferred} is used)"
    return text


def denied_before(payer_key: str, code: str, history: History) -> int:
    """How many times this payer denied this code."""
    outcome = history.get((payer_key, code))
    return outcome.denied if outcome else 0


#: What a biller does next for common denial reasons (DOMAIN.md), by CARC number.
NEXT_STEP = {
    "97": "bundled: modifier 59/XS if the notes show a separate region or time",
    "236": "NCCI pair: modifier 59/XS if the notes show a separate region or time",
    "4": "modifier missing: fix it (e.g. GP) and send a corrected claim",
    "16": "information missing: correct it and resubmit",
    "50": "not medically necessary: appeal with the plan of care and prescription",
    "119": "benefit maximum reached: check visit counts and secondary coverage",
}


def next_step(reason: str) -> str | None:
    """Advice for the first reason code with a known next step (`CO-97 bundled: modifier 59/XS ...`)."""
    for code in split_reasons(reason):
        number = code.rsplit("-", 1)[-1].strip()
        if number in NEXT_STEP:
            return f"{code} {NEXT_STEP[number]}"
    return None


class Resubmission(Model):
    """A denied massage-code claim not yet retried, and what to send instead."""

    row: int
    date: dt.date | None
    client: str
    payer: str
    denied_code: str
    units: float
    reason: str
    new_code: str | None  # None: nothing to resubmit (the note says why)
    expected: Decimal | None
    note: str


def _service(claim: Claim) -> tuple[object, ...]:
    return (claim.date, name_key(claim.client), name_key(claim.payer))


def resubmissions(claims: Sequence[Claim], payers: Mapping[str, Payer]) -> list[Resubmission]:
    """Denied massage-code claims with no later claim (further down) for the same client, date and payer."""
    last = {_service(claim): i for i, claim in enumerate(claims)}
    result = []
    for i, claim in enumerate(claims):
        if claim.status is not Status.DENIED or claim.code not in MASSAGE_FAMILY:
            continue
        if last[_service(claim)] > i:  # retried
            continue
        other = other_massage_code(claim.code)
        payer = payers.get(name_key(claim.payer))
        new_code: str | None = None
        expected = None
        rate = payer.rate(other) if payer and other else None
        if payer is None:
            note = "nothing to resubmit: payer not on the Payers sheet; check the payer name"
        elif other is None or not payer.takes(other):
            note = f"nothing to resubmit: {payer.name} accepts only {claim.code}; appeal or write off"
        elif rate == 0:
            note = f"nothing to resubmit: {payer.name} pays nothing for {other}; appeal or write off"
        else:
            new_code = other
            expected = None if rate is None else money(Decimal(str(claim.units)) * rate)
            note = f"resubmit as {other}" + ("" if rate is not None else f" (no rate for {other} known)")
        step = next_step(claim.reason)
        if step:
            note += f"; {step}"
        result.append(
            Resubmission(
                row=claim.row,
                date=claim.date,
                client=claim.client,
                payer=payer.name if payer else claim.payer,
                denied_code=claim.code,
                units=claim.units,
                reason=claim.reason,
                new_code=new_code,
                expected=expected,
                note=note,
            )
        )
    return result


class Shortfall(Model):
    """A billed service the payer paid less than units x rate for."""

    row: int  # Claims row of the service's latest paid claim
    date: dt.date | None
    client: str
    payer: str
    code: str
    units: float
    expected: Decimal
    paid: Decimal  # net of reversals
    difference: Decimal
    reason: str  # the reasons on the service's claims, e.g. `CO-45; PR-2`


def shortfalls(claims: Iterable[Claim], payers: Mapping[str, Payer]) -> list[Shortfall]:
    """Billed services paid more than a cent below units x the payer's rate, in Claims order.

    A service is one client, date of service, payer and code; its claims are taken
    together so a reversal nets out: paid = what its Paid, Partial and Reversed claims
    paid net; units = those of its latest (lowest) Paid or Partial claim. A take-back
    with no new payment shows paid 0; a reversal and a corrected payment show only the
    corrected payment's shortfall. Services without a rate (blank or 0) are skipped.
    """
    services: dict[tuple[object, ...], list[Claim]] = {}
    for claim in claims:
        if claim.status in (*PAID, Status.REVERSED) and claim.paid is not None and claim.code:
            services.setdefault((*_service(claim), claim.code), []).append(claim)
    result = []
    for group in services.values():
        paid_claims = [claim for claim in group if claim.status in PAID]
        if not paid_claims:
            continue
        latest = paid_claims[-1]
        payer = payers.get(name_key(latest.payer))
        rate = payer.rate(latest.code) if payer and latest.code else None
        if not rate or payer is None or latest.code is None:
            continue
        expected = money(Decimal(str(latest.units)) * rate)
        paid = sum((net_paid(claim) for claim in group), Decimal(0))
        difference = expected - paid
        if difference > CENT:
            reasons = dict.fromkeys(r for claim in group for r in split_reasons(claim.reason))
            result.append(
                Shortfall(
                    row=latest.row,
                    date=latest.date,
                    client=latest.client,
                    payer=payer.name,
                    code=latest.code,
                    units=latest.units,
                    expected=expected,
                    paid=paid,
                    difference=difference,
                    reason="; ".join(reasons),
                )
            )
    return sorted(result, key=lambda s: s.row)
