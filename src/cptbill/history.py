"""What payers actually did: outcomes per payer and code, the code history favours, follow-ups."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from cptbill.codes import MASSAGE_FAMILY, other_massage_code
from cptbill.contract import Flag, Status, client_key, name_key
from cptbill.models import CENT, Claim, FlagNote, Line, Model, Payer, money

#: Statuses that tell what a payer did; Pending does not count yet.
COUNTED = (Status.PAID, Status.PARTIAL, Status.DENIED, Status.REVERSED)
#: Statuses of a claim the payer paid (in full or in part).
PAID = (Status.PAID, Status.PARTIAL)


#: Statuses whose Paid is money received (a Forwarded claim may carry the primary's payment).
RECEIVED = (*PAID, Status.REVERSED, Status.FORWARDED, Status.OTHER_PAYER, Status.PATIENT)


def net_paid(claim: Claim) -> Decimal:
    """What a claim adds to the money received: a reversal takes its amount back, whatever its sign."""
    if claim.paid is None or claim.status not in RECEIVED:
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


class ClaimHistory(dict[tuple[str, str], Outcome]):
    """Outcomes per (payer name key, code), and the (date, client, payer) keys that have a Claims row.

    `today` is the day a filing limit is checked against (`LATE`); None: not checked.
    """

    def __init__(
        self,
        found: Mapping[tuple[str, str], Outcome],
        claimed: frozenset[tuple[dt.date, str, str]] = frozenset(),
        today: dt.date | None = None,
    ) -> None:
        super().__init__(found)
        self.claimed = claimed
        self.today = today


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


def no_charge(claim: Claim) -> bool:
    """A line billed 0 and paid 0, settled (a reporting code, a service included in another one):
    it says nothing about what the payer pays for its code, so it is not learned from."""
    return claim.status is Status.PAID and claim.billed == 0 and not claim.paid


def split_reasons(text: str) -> list[str]:
    """Reason codes as written (`CO-45; PR-2` or `CO-45, PR-2`), upper case, blanks dropped."""
    return [part.strip().upper() for part in re.split(r"[;,]", text) if part.strip()]


def outcomes(claims: Iterable[Claim], when: dt.date | None = None) -> ClaimHistory:
    """Outcomes per (payer name key, code), from the claims in sheet order; `when`: see ClaimHistory."""
    tallies: dict[tuple[str, str], _Tally] = {}
    claimed: set[tuple[dt.date, str, str]] = set()
    for claim in claims:
        if claim.date is not None:
            claimed.add((claim.date, client_key(claim.client), name_key(claim.payer)))
        if claim.code is None or claim.status is None or not claim.payer.strip() or no_charge(claim):
            continue
        if claim.status is Status.DENIED and not true_denial(claim):
            continue  # missing data or a duplicate: a corrected claim, not the payer's verdict on the code
        status = claim.status
        if status is Status.FORWARDED:
            if claim.paid is None or claim.paid <= 0:
                continue  # nothing paid yet: the next payer's answer is the one that tells
            status = Status.PAID  # processed as primary and paid, then forwarded: what it pays
        tally = tallies.setdefault((name_key(claim.payer), claim.code), _Tally())
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
    found = {
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
    return ClaimHistory(found, frozenset(claimed), when)


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


# ---------------------------------------------------------------------------------------------
# The follow-up list: what a billing office does next with each open item


def today() -> dt.date:
    """The date deadlines are checked against (tests replace it)."""
    return dt.date.today()


class Route(Model):
    """What to do about one kind of outcome, and why."""

    action: str
    why: str
    to_payer: bool = True  # a claim or appeal to the payer: the filing deadline applies


#: What a biller does next, by CARC (the reason number, whatever its group), from DOMAIN.md's
#: follow-up table. Sources: X12 Claim Adjustment Reason Codes (x12.org/codes); corrected claims
#: as frequency code 7 with the payer's claim number (NUCC 1500 instructions, item 22; 837P
#: CLM05-3 and REF*F8); NCCI modifier 59/XS only for a separate region and time (CMS NCCI Policy
#: Manual, ch. 1; massagetoday.com "CPT Codes"); not covered: the client pays only with a signed
#: waiver (Medicare ABN, CMS-R-131; commercial plans' member waivers); routine waiver of
#: deductibles and copays and code switching are compliance risks (OIG, 63 FR 70138);
#: Medicare filing within 12 months (42 CFR 424.44).
#: Reasons that say the claim's data was wrong (CO-16, CO-4, ...): fixed by a corrected claim.
INFORMATION_ERRORS = frozenset(
    ("4", "5", "6", "7", "8", "9", "10", "11", "15", "16", "125", "140", "146", "181", "182", "206", "207",
     "208")
)  # fmt: skip
_CORRECTED = Route(
    action="Send a corrected claim with the same code (frequency code 7 and the payer claim ID)",
    why="information missing or wrong on the claim; a corrected claim sent as a new claim is denied as a duplicate",
)
_NOT_COVERED = Route(
    action="Bill the client only with a signed waiver on file; else write it off",
    why="not covered by this plan; never switch codes to get around an exclusion",
)
_BUNDLED = Route(
    action="Add modifier 59 or XS only if the notes show a separate body region and time; else accept it",
    why="bundled with another service of the visit (NCCI); the client may not be billed for it",
)
ROUTES: dict[str, Route] = {
    **dict.fromkeys(INFORMATION_ERRORS, _CORRECTED),
    "197": Route(action="Ask the payer for a retro-authorization, or appeal", why="no prior authorization"),
    "198": Route(
        action="Ask the payer for a retro-authorization, or appeal", why="more visits than authorized"
    ),
    "50": Route(action="Appeal with the treatment notes and the prescription", why="not medically necessary"),
    "151": Route(action="Appeal with the treatment notes", why="the payer does not support this many units"),
    "150": Route(
        action="Appeal with the treatment notes",
        why="the payer says the notes do not support this level of service",
    ),
    "252": Route(
        action="Send the documentation the payer asks for (its remark code says which)",
        why="an attachment or other documentation is required",
    ),
    "167": Route(
        action="Check the diagnosis code: a corrected claim if it was wrong, else appeal with the notes",
        why="the diagnosis is not covered for this service",
    ),
    "109": Route(
        action="Send the claim to the client's right payer (check the insurance card and eligibility)",
        why="this payer does not cover this client or service: another payer does",
        to_payer=False,  # the other payer's filing limit, not this one's
    ),
    "29": Route(
        action="Appeal only with proof of timely filing (e.g. the clearinghouse acceptance report); else write it off",
        why="filed after the payer's time limit",
    ),
    "18": Route(action="Nothing to do", why="exact duplicate of a claim already processed", to_payer=False),
    "147": Route(
        action="Ask the payer's provider relations to load your contracted rate, then to reprocess the claim",
        why="the payer has no contracted rate on file for you (expired or never loaded)",
    ),
    **dict.fromkeys(("96", "204", "B7", "170"), _NOT_COVERED),
    **dict.fromkeys(("97", "234", "236"), _BUNDLED),
    "119": Route(
        action="Check the client's visit count and any secondary coverage",
        why="benefit maximum reached",
    ),
    "22": Route(
        action="Bill the primary payer first (coordination of benefits)", why="another payer may cover it"
    ),
    "24": Route(
        action="Nothing to bill: the plan pays this service under your capitation agreement "
        "(check that the client is on your capitation list)",
        why="covered under a capitation agreement or managed care plan",
        to_payer=False,
    ),
    "23": Route(
        action="Bill the other payer, or wait for its payment", why="another payer's payment covers it"
    ),
    **dict.fromkeys(
        ("26", "27", "31"),
        Route(
            action="Check the client's coverage dates and member ID, then correct the claim or bill the client",
            why="not covered on this date, or not identified as a member",
        ),
    ),
}
#: Reasons that need no follow-up by themselves: the contractual write-down (45; 42 and A2 its
#: older fee-schedule spellings), Medicare sequestration (253) and the multiple procedure
#: payment reduction (59: "processed based on multiple or concurrent procedure rules"; CMS
#: applies it to "always therapy" codes such as 97140 and 97124, Medicare Claims Processing
#: Manual, Pub. 100-04, ch. 5, on outpatient therapy), and a managed-care withhold (104: the
#: contract's share held back, settled by the plan later, nothing to correct or appeal); a
#: claim-specific negotiated discount (131: a repricing network's agreed fee), and the
#: jurisdictional fee schedules of workers' comp (P12; W1 its older spelling) and of auto
#: medical payments and PIP (P23), which cap the payment by law (a fee dispute goes to the state
#: board only when the payer applied the wrong rate; Shortfalls shows a payment below the rate).
ROUTINE = frozenset({"45", "42", "A2", "253", "59", "104", "131", "P12", "W1", "P23"})
#: The client's share of an allowed service (the payer allowed it); other PR reasons make the
#: client liable for what the payer did not allow (not covered, benefit maximum).
CLIENT_SHARE = {"1": "deductible", "2": "coinsurance", "3": "copay"}
PATIENT_REASONS = {
    **CLIENT_SHARE, "119": "benefit maximum reached", "96": "not covered", "204": "not covered",
    "B7": "not covered", "170": "not covered",
}  # fmt: skip
BILL_CLIENT = "Bill the client"
_OTHER_CODE_REASONS = frozenset({"96", "204", "B7"})  # this code is not covered
_UNKNOWN_REASON = Route(
    action="Look the reason up (x12.org Claim Adjustment Reason Codes); correct and resend, or appeal",
    why="a reason without a routine next step",
)


_ALLOWED_NOTHING = "the payer allowed nothing: a write-down (contract or fee schedule) took the whole charge"


class FollowUp(Model):
    """One open item of the Follow-up sheet: a Claims row and what to do about it."""

    row: int  # the Claims row
    date: dt.date | None
    client: str
    payer: str
    code: str | None
    units: float
    reason: str  # what the item is about, e.g. `PR-1` or `CO-16`
    action: str
    why: str
    amount: Decimal | None
    deadline: dt.date | None = None
    overdue: bool = False
    claim_id: str = ""
    payer_claim_id: str = ""
    new_code: str | None = None  # "try the other code": only for an `either` line


def adjustments(claim: Claim) -> list[tuple[str, Decimal | None]]:
    """The row's adjustments: from `Adjusted` with amounts (`CO-45 20.00`), else `Reason` without."""
    found: list[tuple[str, Decimal | None]] = []
    for part in split_reasons(claim.adjusted):
        code, _, amount = part.partition(" ")
        try:
            found.append((code, Decimal(amount.strip()) if amount.strip() else None))
        except ArithmeticError:
            found.append((code, None))
    return found or [(code, None) for code in split_reasons(claim.reason)]


def patient_owes(claim: Claim) -> Decimal:
    """What the client owes on a row: Patient owes, else its PR amounts; a `Patient` row's unpaid rest."""
    if claim.patient_owes is not None:
        return claim.patient_owes
    owes = sum((a or Decimal(0) for code, a in adjustments(claim) if code.startswith("PR-")), Decimal(0))
    if not owes and claim.status is Status.PATIENT and claim.billed is not None:
        owes = claim.billed - (claim.paid or Decimal(0))
    return owes


def _number(code: str) -> str:
    return code.rsplit("-", 1)[-1].strip()


#: Denials about the client's coverage or the claim's handling, not about the code billed: the
#: client not covered on that day (26, 27, 200, 177) or not identified (31, 32, 33), another payer's
#: turn (22, 23, 109), a benefit maximum reached (119), no authorization (197, 198), filed late (29).
NOT_ABOUT_THE_CODE = frozenset(
    {"22", "23", "26", "27", "29", "31", "32", "33", "109", "119", "177", "197", "198", "200"}
)


def true_denial(claim: Claim) -> bool:
    """A denial that judges the service: not one only for missing data (CO-16, CO-4), a duplicate
    (OA-18), a service the plan pays by capitation (CO-24), or the client's coverage or the claim's
    handling (NOT_ABOUT_THE_CODE: eligibility, another payer, a benefit maximum, authorization,
    timely filing), which another code would meet alike.

    Only true denials teach the claim history and `DENIED_BEFORE`: a denial that says nothing of
    the code must not move an `either` line to the other code.
    """
    reasons = {_number(code) for code, _ in adjustments(claim) if not code.startswith("PR-")} - ROUTINE
    return not reasons or not reasons <= INFORMATION_ERRORS | NOT_ABOUT_THE_CODE | {"18", "24"}


def _deadline(claim: Claim, payer: Payer | None) -> dt.date | None:
    if claim.date is None or payer is None or payer.filing_limit is None:
        return None
    return claim.date + dt.timedelta(days=payer.filing_limit)


def _service_key(claim: Claim, code: str | None) -> tuple[object, ...]:
    return (claim.date, client_key(claim.client), name_key(claim.payer), code)


def _same_line(a: Claim, b: Claim) -> bool:
    """The same service line: same claim ID and line, or same date, client, payer and code.

    Two numbered lines of one claim are never the same line, whatever their code and day (a
    claim may bill a code twice on a day: LT and RT, or with 59). A claim number on another day
    or client is another claim: many programs send the client's account number as the claim
    number (CLP01), the same on every visit. Two rows of one answer (same claim numbers and
    Source: a line the payer split, part paid and part denied) are parts, not a later answer.
    """
    if a.claim_id and a.source.strip() and _answer(a) == _answer(b):
        return False
    if a.claim_id and a.claim_id == b.claim_id and _same_visit(a, b):
        if a.line == b.line:
            return True
        if a.line and b.line:
            return False
    return a.date is not None and _service_key(a, a.code) == _service_key(b, b.code)


def _answer(claim: Claim) -> tuple[str, str, str]:
    """The payer's answer a row comes from: its claim numbers and Source (file and check/EFT)."""
    return (claim.claim_id, claim.payer_claim_id, claim.source.strip())


def _same_visit(a: Claim, b: Claim) -> bool:
    """Not told apart by date of service or client (either may be blank on a typed row)."""
    dates = a.date is None or b.date is None or a.date == b.date
    return dates and (
        not a.client.strip() or not b.client.strip() or client_key(a.client) == client_key(b.client)
    )


def _paid(claim: Claim) -> bool:
    return claim.status in PAID and (claim.paid or 0) > 0


def follow_ups(
    claims: Sequence[Claim],
    payers: Mapping[str, Payer],
    either: Callable[[Claim], bool] = lambda claim: False,
    when: dt.date | None = None,
) -> list[FollowUp]:
    """The open items of the Claims sheet, in sheet order, routed by reason (ROUTES).

    A row's items are settled by a later row for the same service line (same claim ID and line,
    or same date, client, payer and code) that was paid, or, but for a client bill, that is a
    corrected claim sent (Submitted, Pending); a later answer for the same line (denied again)
    replaces them with its own. A "try the other code"
    item, offered only when `either(claim)` says the line's documented service meets both massage
    codes, is also settled by a later paid row for the same date, client and payer with the other
    code. `when` is the day deadlines are checked against (default: today).
    """
    when = when or today()
    # the rows that may be the same line as a row: those with its claim ID or its service key
    # (looked up, not scanned: a Claims sheet of thousands of rows)
    by_id: dict[str, list[int]] = {}
    by_service: dict[tuple[object, ...], list[int]] = {}
    for j, other in enumerate(claims):
        if other.claim_id:
            by_id.setdefault(other.claim_id, []).append(j)
        by_service.setdefault(_service_key(other, other.code), []).append(j)

    def later(i: int, *groups: list[int]) -> list[Claim]:
        return [claims[j] for j in sorted({j for group in groups for j in group if j > i})]

    result: list[FollowUp] = []
    for i, claim in enumerate(claims):
        candidates = later(
            i,
            by_id.get(claim.claim_id, []) if claim.claim_id else [],
            by_service.get(_service_key(claim, claim.code), []),
        )
        same = [other for other in candidates if _same_line(claim, other)]
        if any(_paid(other) or other.status in _ANSWERS for other in same):
            continue  # paid since, or the payer's newer answer (with its own items)
        sent = any(other.status in (Status.SUBMITTED, Status.PENDING) for other in same)
        payer = payers.get(name_key(claim.payer))
        for item in _items(claim, payer, either(claim)):
            if sent and item.action != BILL_CLIENT:
                continue  # a corrected claim is on its way; it does not pay the client's share
            if item.new_code and any(
                _paid(other) for other in later(i, by_service.get(_service_key(claim, item.new_code), []))
            ):
                continue
            result.append(_dated(item, when))
    return result


#: Later rows that are the payer's newer answer for the same line.
_ANSWERS = (Status.DENIED, Status.PARTIAL, Status.PATIENT, Status.OTHER_PAYER, Status.FORWARDED)


def _left_for_next_payer(
    claim: Claim, status: Status, found: Sequence[tuple[str, Decimal | None]], unpaid: Decimal
) -> Decimal:
    """What a Forwarded or Other payer row leaves for the next payer when the client owes nothing.

    Another payer's payment covers it (OA-23 on a secondary claim) and a primary that paid and
    forwarded (a crossover) leave only the client's share: when the adjustments' amounts explain
    the rest, nothing (DOMAIN.md: "none, or bill the next payer"). A claim forwarded unpaid (not
    this payer's) goes to the next payer whole, as does what no amount explains.
    """
    if status is Status.FORWARDED and not (claim.paid and claim.paid > 0):
        return unpaid
    explained = sum((amount for code, amount in found if amount and not code.startswith("PR-")), Decimal(0))
    return unpaid - explained


def _dated(item: FollowUp, when: dt.date) -> FollowUp:
    return item.model_copy(update={"overdue": item.deadline is not None and when > item.deadline})


def _item(
    claim: Claim,
    payer: Payer | None,
    reason: str,
    route: Route,
    amount: Decimal | None,
    new_code: str | None = None,
) -> FollowUp:
    return FollowUp(
        row=claim.row,
        date=claim.date,
        client=claim.client,
        payer=payer.name if payer else claim.payer,
        code=claim.code,
        units=claim.units,
        reason=reason,
        action=route.action,
        why=route.why,
        amount=amount,
        deadline=_deadline(claim, payer) if route.to_payer else None,
        claim_id=claim.claim_id,
        payer_claim_id=claim.payer_claim_id,
        new_code=new_code,
    )


def _items(claim: Claim, payer: Payer | None, either: bool) -> list[FollowUp]:
    """What one Claims row asks for: bill the client, the other payer, or the payer by reason."""
    status = claim.status
    if status is None or status in (
        Status.REVERSED,
        Status.PREDETERMINATION,
        Status.PENDING,
        Status.SUBMITTED,
    ):
        return []
    found = adjustments(claim)
    items: list[FollowUp] = []
    owes = patient_owes(claim)
    unpaid = (claim.billed or Decimal(0)) - (claim.paid or Decimal(0))
    if status in (Status.FORWARDED, Status.OTHER_PAYER):
        kind = (
            "forwarded to the next payer"
            if status is Status.FORWARDED
            else "another payer's payment covers it"
        )
        route = Route(
            action="Wait for the next payer's answer; bill it yourself if none comes within 30 days"
            if status is Status.FORWARDED
            else "Check the other payer's payment; bill the next payer for what is left",
            why=kind
            + (f"; the client's share ({_patient_words(found)}) goes to that payer first" if owes else ""),
        )
        left = owes or _left_for_next_payer(claim, status, found, unpaid)
        if left <= 0:
            return []  # the payers' payments and adjustments cover it all: nothing to chase
        return [_item(claim, payer, "; ".join(c for c, _ in found) or status.value, route, left)]
    if owes > 0:
        liable = {_number(c) for c, a in found if c.startswith("PR-") and a != 0} - set(CLIENT_SHARE)
        why = (
            "the payer holds the client responsible"
            + ("; check any secondary coverage first" if "119" in liable else "")
            if liable
            else "the payer allowed it and the client owes it"
        )
        route = Route(
            action=BILL_CLIENT,
            why=f"{_patient_words(found) or 'patient responsibility'}: {why}",
            to_payer=False,
        )
        items.append(
            _item(claim, payer, "; ".join(c for c, _ in found if c.startswith("PR-")) or "PR", route, owes)
        )
    if status not in (Status.DENIED, Status.PARTIAL):
        return items
    payer_reasons = [
        (code, amount) for code, amount in found
        if not code.startswith("PR-") and _number(code) not in ROUTINE
    ]  # fmt: skip
    written_down = sum((a or Decimal(0) for c, a in found if not c.startswith("PR-")), Decimal(0))
    if not payer_reasons and (status is Status.PARTIAL or (owes > 0 and owes + written_down >= unpaid)):
        return items  # nothing the payer must answer for: a cut by routine reasons, or all the client's
    code, amount = payer_reasons[0] if payer_reasons else ("", None)
    number = _number(code) if code else ""
    route = ROUTES.get(number, _UNKNOWN_REASON)
    if number == "18":
        return items
    at_stake = sum((a or Decimal(0) for c, a in payer_reasons if c == code), Decimal(0)) or (
        unpaid - owes if status is Status.DENIED else amount
    )
    other = other_massage_code(claim.code) if claim.code else None
    if either and number in _OTHER_CODE_REASONS and other and payer is not None and payer.takes(other):
        route = Route(
            action=f"Send a corrected claim with {other} (frequency code 7 and the payer claim ID)",
            why=f"{claim.code} is not covered and the notes meet both massage codes (Service: either)",
        )
        items.append(_item(claim, payer, code, route, at_stake, new_code=other))
        return items
    routine = "; ".join(c for c, _ in found if not c.startswith("PR-"))  # only write-downs (CO-45)
    why = route.why if code else (_ALLOWED_NOTHING if routine else "denied without a reason code")
    items.append(_item(claim, payer, code or routine or "?", route.model_copy(update={"why": why}), at_stake))
    return items


def _patient_words(found: Iterable[tuple[str, Decimal | None]]) -> str:
    """`PR-1 deductible 60.00; PR-3 copay 20.00`."""
    words = []
    for code, amount in found:
        if code.startswith("PR-"):
            what = PATIENT_REASONS.get(_number(code), "patient responsibility")
            words.append(f"{code} {what}" + (f" {amount:.2f}" if amount is not None else ""))
    return "; ".join(words)


def late_note(line: Line, payer: Payer | None, history: History) -> FlagNote | None:
    """LATE: the payer's filing limit for this date of service has passed and no Claims row has the line."""
    if not isinstance(history, ClaimHistory) or history.today is None:
        return None
    if payer is None or payer.filing_limit is None or line.date is None:
        return None
    deadline = line.date + dt.timedelta(days=payer.filing_limit)
    if history.today <= deadline or (line.date, client_key(line.client), payer.key) in history.claimed:
        return None
    return FlagNote(
        flag=Flag.LATE,
        note=f"{payer.name}'s filing limit ({payer.filing_limit} days) passed on {deadline.isoformat()}; no claim on the Claims sheet",
    )


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
    patient_owes: Decimal  # the client's share (deductible, coinsurance, copay), net of reversals
    difference: Decimal  # expected - paid - patient owes
    reason: str  # the reasons on the service's claims, e.g. `CO-45; PR-2`


_SHORTFALL_ROWS = (*PAID, Status.REVERSED, Status.PATIENT)


def shortfalls(claims: Iterable[Claim], payers: Mapping[str, Payer]) -> list[Shortfall]:
    """Payer shortfalls: services paid more than a cent below units x rate, less the client's share.

    A service is one client, date of service, payer and code; its rows are taken together so a
    reversal nets out: paid = what its Paid, Partial and Reversed rows paid net; patient owes =
    their Patient owes (or PR amounts), net too, with `Patient` rows; units = those of its latest
    (lowest) Paid, Partial or Patient row. Difference = expected - paid - patient owes: what the
    client owes is billed to the client (Follow-up), never counted as the payer's shortfall.
    Services without a rate (blank or 0) are skipped.
    """
    services: dict[tuple[object, ...], list[Claim]] = {}
    for claim in claims:
        if claim.status in _SHORTFALL_ROWS and claim.code:
            services.setdefault(_service_key(claim, claim.code), []).append(claim)
    result = []
    for group in services.values():
        settled = [claim for claim in group if claim.status in (*PAID, Status.PATIENT)]
        if not settled:
            continue
        latest = settled[-1]
        payer = payers.get(name_key(latest.payer))
        rate = payer.rate(latest.code) if payer and latest.code else None
        if not rate or payer is None or latest.code is None:
            continue
        expected = money(Decimal(str(latest.units)) * rate)
        paid = sum((net_paid(claim) for claim in group), Decimal(0))
        owes = sum(
            (-abs(patient_owes(c)) if c.status is Status.REVERSED else patient_owes(c) for c in group),
            Decimal(0),
        )
        difference = expected - paid - owes
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
                    patient_owes=owes,
                    difference=difference,
                    reason="; ".join(reasons),
                )
            )
    return sorted(result, key=lambda s: s.row)
