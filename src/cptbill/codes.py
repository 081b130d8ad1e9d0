"""The CPT code catalog: which codes are timed, which form the massage family."""

from __future__ import annotations

import re
from typing import Any

from cptbill.errors import UnitsError

MASSAGE = "97124"
MANUAL_THERAPY = "97140"
HOT_COLD_PACK = "97010"

#: The two near-interchangeable massage codes; a visit is billed under one of them.
MASSAGE_FAMILY: tuple[str, ...] = (MASSAGE, MANUAL_THERAPY)
#: Untimed (service-based) codes: one unit per visit whatever the minutes.
UNTIMED: frozenset[str] = frozenset({HOT_COLD_PACK})

DESCRIPTIONS = {
    MASSAGE: "massage",
    MANUAL_THERAPY: "manual therapy",
    HOT_COLD_PACK: "hot/cold pack",
}

_CODE = re.compile(r"^[0-9A-Z]{5}$")


def normalize_code(value: Any) -> str:
    """Return a CPT/HCPCS code as five upper-case characters (97140.0 -> "97140").

    Raises UnitsError when the value is not a five-character code.
    """
    if isinstance(value, bool):
        raise UnitsError(f"{value!r} is not a CPT code.")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip().upper()
    if not _CODE.match(text):
        raise UnitsError(f"'{text}' is not a CPT code (five characters such as 97140).")
    return text


def is_timed(code: str) -> bool:
    """Every code but the untimed ones is billed in 15-minute units."""
    return code not in UNTIMED


def other_massage_code(code: str) -> str | None:
    """The other code of the massage family, or None for a code outside it."""
    if code == MASSAGE:
        return MANUAL_THERAPY
    if code == MANUAL_THERAPY:
        return MASSAGE
    return None
