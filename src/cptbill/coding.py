"""Which massage code a visit gets: Accepts, then Preferred, then claim history, then the default."""

from __future__ import annotations

from cptbill.codes import MASSAGE_FAMILY
from cptbill.history import History, favoured_code
from cptbill.models import Payer, Settings


def choose_code(payer: Payer | None, settings: Settings, history: History) -> tuple[str, str]:
    """The massage code for a payer's visits, and the reason in a few words."""
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
