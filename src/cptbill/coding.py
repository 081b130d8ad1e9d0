"""Which code a line gets: its documented service's, else (`either`) Accepts, Preferred, history, default."""

from __future__ import annotations

from functools import lru_cache

from cptbill.codes import DESCRIPTIONS, MANUAL_THERAPY, MASSAGE, MASSAGE_FAMILY
from cptbill.contract import EITHER
from cptbill.history import History, favoured_code
from cptbill.models import Line, Payer, Settings

_BLANK = {
    EITHER: EITHER,
    DESCRIPTIONS[MASSAGE]: MASSAGE,
    DESCRIPTIONS[MANUAL_THERAPY]: MANUAL_THERAPY,
    MASSAGE: MASSAGE,
    MANUAL_THERAPY: MANUAL_THERAPY,
}


@lru_cache(maxsize=64)
def blank_service_code(blank_service: str) -> str:
    """What a blank Service stands for: 97124 (massage, the default), 97140 or `either`."""
    return _BLANK.get(" ".join(blank_service.split()).casefold(), MASSAGE)


def service_code(service: str | None, settings: Settings) -> str:
    """A line's documented code (`either` when the payer's rules may choose), blank Service resolved."""
    return blank_service_code(settings.blank_service) if service is None else service


def documented_code(line: Line, settings: Settings) -> str | None:
    """The code the line's documented service decides, or None for an `either` line."""
    code = service_code(line.service, settings)
    return None if code == EITHER else code


def describe_service(code: str) -> str:
    """`97124 (massage)`, or the code alone when it has no description."""
    what = DESCRIPTIONS.get(code)
    return f"{code} ({what})" if what else code


def not_accepted_note(payer: Payer, code: str) -> str:
    """What NOT_ACCEPTED says: what the payer covers and what to do (the code itself never changes)."""
    covered = [c for c in MASSAGE_FAMILY if payer.takes(c)]
    if len(covered) != 1:
        return f"{payer.name} does not take {code}"
    only = covered[0]
    what = DESCRIPTIONS[only]
    return (
        f"{payer.name} covers only {describe_service(only)}: bill it only if the session was {what}, "
        "otherwise collect from the client (with a signed waiver on file)"
    )


def choose_code(payer: Payer | None, settings: Settings, history: History) -> tuple[str, str]:
    """The massage code for a payer's `either` lines, and the reason in a few words."""
    default = settings.default_code
    if payer is None:
        return default, f"unknown payer: default code {default}"
    accepted = [code for code in MASSAGE_FAMILY if payer.takes(code)]
    if len(accepted) == 1:
        return accepted[0], f"{payer.name} accepts only {accepted[0]}"
    if payer.preferred:
        return payer.preferred, f"{payer.name} prefers {payer.preferred}"
    learned, why = favoured_code(payer, history)
    if learned:
        return learned, f"claim history favours {learned} ({why})"
    return default, f"default code {default}"
