"""The unit rules: the CMS table, the CMS worked examples, AMA, properties and bad input."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cptbill import Rule, UnitsError, allocate, units
from cptbill.units import MAX_MINUTES, spread

# --- The CMS table (DOMAIN.md): every row at both edges, then 15-minute steps up to 600 ---

TABLE_ROWS = [(0, 7, 0), (8, 22, 1), (23, 37, 2), (38, 52, 3), (53, 67, 4), (68, 82, 5)]
TABLE_ROWS += [(83, 97, 6), (98, 112, 7), (113, 127, 8)]
# "and so on in 15-minute steps": row n (n >= 1) runs from 15n - 7 to 15n + 7.
TABLE_ROWS += [(15 * n - 7, min(15 * n + 7, MAX_MINUTES), n) for n in range(9, 41)]

EDGES = [(low, n) for low, _, n in TABLE_ROWS] + [(high, n) for _, high, n in TABLE_ROWS]


def test_table_rows_cover_zero_to_600_without_gaps() -> None:
    assert TABLE_ROWS[0][0] == 0
    assert TABLE_ROWS[-1][1] == MAX_MINUTES
    for (_, high, _), (low, _, _) in itertools.pairwise(TABLE_ROWS):
        assert low == high + 1


@pytest.mark.parametrize(("minutes", "expected"), EDGES, ids=[f"{m}min" for m, _ in EDGES])
@pytest.mark.parametrize("rule", ["cms", "ama", Rule.CMS, Rule.AMA, "CMS", " Ama "])
def test_table_edges(minutes: int, expected: int, rule: str) -> None:
    # For one timed code both rules read the same table.
    assert units(minutes, rule) == expected
    assert units(float(minutes), rule) == expected


@pytest.mark.parametrize(("minutes", "expected"), [(7.9, 0), (7.99, 0), (8.0, 1), (22.5, 1), (22.99, 1)])
def test_fractional_minutes_do_not_reach_the_next_row_early(minutes: float, expected: int) -> None:
    assert units(minutes) == expected


def test_default_rule_is_cms() -> None:
    assert allocate({"97110": 7, "97140": 7}) == allocate({"97110": 7, "97140": 7}, "cms")


# --- CMS worked examples: Medicare Claims Processing Manual, Pub. 100-04, ch. 5, section 20.2 ---


def test_cms_example_1_24_and_23_minutes() -> None:
    # Example 1: 24 min 97112 + 23 min 97110 = 47 minutes = 3 units.
    assert allocate({"97112": 24, "97110": 23}) == {"97112": 2, "97110": 1}


def test_cms_example_2_20_and_20_minutes_tie() -> None:
    # Example 2: 20 min 97112 + 20 min 97110 = 40 minutes = 3 units; either code may take the
    # second unit. Documented tie-break: the code listed first.
    result = allocate({"97112": 20, "97110": 20})
    assert sum(result.values()) == 3
    assert all(count >= 1 for count in result.values())
    assert result == {"97112": 2, "97110": 1}
    assert allocate({"97110": 20, "97112": 20}) == {"97110": 2, "97112": 1}


def test_cms_example_3_33_and_7_minutes() -> None:
    # Example 3 (also in DOMAIN.md): 33 min 97110 + 7 min 97140 = 40 minutes = 3 units.
    assert allocate({"97110": 33, "97140": 7}) == {"97110": 2, "97140": 1}


def test_cms_example_4_four_codes() -> None:
    # Example 4: 18 min 97110 + 13 min 97140 + 10 min 97116 + 8 min 97035 = 49 minutes = 3 units.
    result = allocate({"97110": 18, "97140": 13, "97116": 10, "97035": 8})
    assert result == {"97110": 1, "97140": 1, "97116": 1, "97035": 0}


def test_cms_example_5_three_codes_of_7_minutes() -> None:
    # Example 5: 7 min each of 97112, 97110, 97140 = 21 minutes = 1 unit, to one code
    # (a tie: the code listed first).
    result = allocate({"97112": 7, "97110": 7, "97140": 7})
    assert sum(result.values()) == 1
    assert result == {"97112": 1, "97110": 0, "97140": 0}


def test_untimed_97010_gets_one_unit_and_adds_no_minutes() -> None:
    # 7 timed minutes stay under 8 even with 20 minutes of hot pack.
    assert allocate({"97140": 7, "97010": 20}) == {"97140": 0, "97010": 1}
    assert allocate({"97140": 7, "97010": 20}, "ama") == {"97140": 0, "97010": 1}
    assert allocate({"97010": 0}) == {"97010": 1}
    # And the hot pack does not take a unit from the timed codes.
    assert allocate({"97124": 38, "97010": 15}) == {"97124": 3, "97010": 1}


def test_codes_are_normalized_and_order_is_kept() -> None:
    assert allocate({" 97124 ": 30, "g0283": 10}) == {"97124": 2, "G0283": 1}
    assert allocate({97140: 38}) == {"97140": 3}  # type: ignore[dict-item]
    assert list(allocate({"97140": 1, "97124": 1, "97010": 1})) == ["97140", "97124", "97010"]


# --- AMA: each code on its own; where the rules differ ---


@pytest.mark.parametrize(
    ("minutes", "ama", "cms"),
    [
        ({"97112": 7, "97110": 7}, {"97112": 0, "97110": 0}, {"97112": 1, "97110": 0}),
        ({"97112": 20, "97110": 20}, {"97112": 1, "97110": 1}, {"97112": 2, "97110": 1}),
        ({"97112": 8, "97110": 8}, {"97112": 1, "97110": 1}, {"97112": 1, "97110": 0}),
        ({"97110": 33, "97140": 7}, {"97110": 2, "97140": 0}, {"97110": 2, "97140": 1}),
        (
            {"97112": 7, "97110": 7, "97140": 7},
            {"97112": 0, "97110": 0, "97140": 0},
            {"97112": 1, "97110": 0, "97140": 0},
        ),
        (
            {"97110": 18, "97140": 13, "97116": 10, "97035": 8},
            {"97110": 1, "97140": 1, "97116": 1, "97035": 1},
            {"97110": 1, "97140": 1, "97116": 1, "97035": 0},
        ),
    ],
)
def test_ama_differs_from_cms(minutes: dict[str, int], ama: dict[str, int], cms: dict[str, int]) -> None:
    assert allocate(minutes, "ama") == ama
    assert allocate(minutes, Rule.AMA) == ama
    assert allocate(minutes, "cms") == cms


# --- Properties ---

MINUTES = st.integers(min_value=0, max_value=MAX_MINUTES) | st.floats(
    min_value=0, max_value=MAX_MINUTES, allow_nan=False
)
TIMED_CODES = st.lists(
    st.integers(min_value=97000, max_value=97999).map(str).filter(lambda c: c != "97010"),
    min_size=1,
    max_size=6,
    unique=True,
)


@st.composite
def timed_visits(draw: st.DrawFn, whole: bool = False) -> dict[str, float]:
    codes = draw(TIMED_CODES)
    minutes = st.integers(0, MAX_MINUTES) if whole else MINUTES
    return {code: draw(minutes) for code in codes}


def leftover(minutes: float) -> float:
    return minutes % 15


@settings(max_examples=200)
@given(a=MINUTES, b=MINUTES)
def test_units_never_decrease_as_minutes_grow(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert units(low) <= units(high)
    assert units(low, "ama") <= units(high, "ama")


@settings(max_examples=200)
@given(minutes=MINUTES)
def test_units_match_the_formula(minutes: float) -> None:
    assert units(minutes) == math.floor((minutes + 7) / 15)


@settings(max_examples=200)
@given(visit=timed_visits())
def test_cms_allocation_sums_to_units_of_total_minutes(visit: dict[str, float]) -> None:
    result = allocate(visit)
    total = sum(visit.values())
    assert sum(result.values()) == math.floor((total + 7) / 15)
    if total <= MAX_MINUTES:
        assert sum(result.values()) == units(total)


@settings(max_examples=200)
@given(visit=timed_visits(), rule=st.sampled_from(["cms", "ama"]))
def test_no_code_gets_more_than_its_blocks_plus_one(visit: dict[str, float], rule: str) -> None:
    result = allocate(visit, rule)
    for code, minutes in visit.items():
        assert 0 <= result[code] <= math.floor(minutes / 15) + 1
        if minutes == 0:
            assert result[code] == 0
        # Each code keeps at least its whole 15-minute blocks.
        assert result[code] >= math.floor(minutes / 15)


def cms_minus_ama_bounds(n: int, whole: bool = True) -> tuple[int, int]:
    """The proven bounds of CMS total - AMA total for n timed codes.

    Write each code's minutes as 15 b + r (0 <= r < 15), B = sum b, R = sum r and a = the
    number of codes with r >= 8. Then AMA = B + a and CMS = B + floor((R + 7) / 15).
    Low: R >= 8a, so CMS - AMA >= floor((8a + 7) / 15) - a >= floor((8n + 7) / 15) - n
    (all r = 8). High, whole minutes: R <= 14a + 7(n - a), so CMS - AMA <= floor((7n + 7) / 15)
    (all r = 7). High, fractional minutes: a leftover under 8 can come close to 8, R < 8n + 7a,
    so CMS - AMA <= floor((8n + 6) / 15) (all r = 7.99). All bounds are reached.
    """
    high = math.floor((7 * n + 7) / 15) if whole else math.floor((8 * n + 6) / 15)
    return math.floor((8 * n + 7) / 15) - n, high


def cms_minus_ama(visit: dict[str, float]) -> int:
    return sum(allocate(visit, "cms").values()) - sum(allocate(visit, "ama").values())


@settings(max_examples=200)
@given(visit=timed_visits(whole=True))
def test_ama_and_cms_totals_stay_within_proven_bounds(visit: dict[str, float]) -> None:
    n = len(visit)
    low, high = cms_minus_ama_bounds(n)
    difference = cms_minus_ama(visit)
    assert low <= difference <= high
    # For whole minutes, a looser form: the totals never differ by more than half the codes.
    assert abs(difference) <= n // 2
    if n == 1:
        assert difference == 0  # one timed code: both rules agree


@settings(max_examples=200)
@given(visit=timed_visits())
def test_ama_and_cms_bounds_with_fractional_minutes(visit: dict[str, float]) -> None:
    low, high = cms_minus_ama_bounds(len(visit), whole=False)
    assert low <= cms_minus_ama(visit) <= high
    if len(visit) == 1:
        assert cms_minus_ama(visit) == 0


@pytest.mark.parametrize("n", range(1, 9))
def test_ama_cms_bounds_are_reached(n: int) -> None:
    codes = [str(97100 + i) for i in range(n)]
    low, high = cms_minus_ama_bounds(n)
    assert cms_minus_ama(dict.fromkeys(codes, 8)) == low
    assert cms_minus_ama(dict.fromkeys(codes, 7)) == high
    assert cms_minus_ama(dict.fromkeys(codes, 7.99)) == cms_minus_ama_bounds(n, whole=False)[1]


def test_fractional_minutes_can_put_cms_further_ahead() -> None:
    # 14 blocks each plus leftovers 7.5, 7.75, 7.75: AMA gives no leftover a unit (each is under 8),
    # CMS pools 23 leftover minutes into 2 units. With whole minutes 3 codes differ by at most 1.
    visit = {"97110": 217.5, "97112": 217.75, "97140": 217.75}
    assert sum(allocate(visit, "cms").values()) == 44
    assert sum(allocate(visit, "ama").values()) == 42


def test_neither_rule_always_gives_more() -> None:
    # 7 + 7: CMS 1 > AMA 0.  8 + 8: AMA 2 > CMS 1.
    assert sum(allocate({"97112": 7, "97110": 7}).values()) == 1
    assert sum(allocate({"97112": 7, "97110": 7}, "ama").values()) == 0
    assert sum(allocate({"97112": 8, "97110": 8}).values()) == 1
    assert sum(allocate({"97112": 8, "97110": 8}, "ama").values()) == 2


@settings(max_examples=150)
@given(visit=timed_visits(whole=True), data=st.data())
def test_order_of_codes_only_matters_for_ties(visit: dict[str, float], data: st.DataObject) -> None:
    order = data.draw(st.permutations(list(visit)))
    shuffled = {code: visit[code] for code in order}
    for rule in ("cms", "ama"):
        first, second = allocate(visit, rule), allocate(shuffled, rule)
        assert sum(first.values()) == sum(second.values())
        leftovers = [leftover(m) for m in visit.values()]
        for code, minutes in visit.items():
            unique = leftovers.count(leftover(minutes)) == 1
            if unique or leftover(minutes) == 0 or rule == "ama":
                assert first[code] == second[code], (code, first, second)
        if len(set(leftovers)) == len(leftovers):
            assert first == second


@settings(max_examples=150)
@given(visit=timed_visits(whole=True))
def test_ties_go_to_the_code_listed_first(visit: dict[str, float]) -> None:
    result = allocate(visit)
    codes = list(visit)
    for i, j in itertools.combinations(range(len(codes)), 2):
        a, b = codes[i], codes[j]
        if leftover(visit[a]) == leftover(visit[b]) > 0:
            extra_a = result[a] - math.floor(visit[a] / 15)
            extra_b = result[b] - math.floor(visit[b] / 15)
            assert extra_a >= extra_b  # the earlier code never loses a tie


@settings(max_examples=150)
@given(visit=timed_visits(whole=True))
def test_more_leftover_minutes_never_get_fewer_extra_units(visit: dict[str, float]) -> None:
    result = allocate(visit)
    extras = {c: result[c] - math.floor(m / 15) for c, m in visit.items()}
    for a, b in itertools.permutations(visit, 2):
        if leftover(visit[a]) > leftover(visit[b]):
            assert extras[a] >= extras[b]


@settings(max_examples=100)
@given(visit=timed_visits(), pack=st.integers(0, MAX_MINUTES), rule=st.sampled_from(["cms", "ama"]))
def test_hot_pack_changes_nothing_for_timed_codes(visit: dict[str, float], pack: int, rule: str) -> None:
    with_pack = allocate({**visit, "97010": pack}, rule)
    assert with_pack.pop("97010") == 1
    assert with_pack == allocate(visit, rule)


@settings(max_examples=150)
@given(minutes=st.lists(st.integers(0, 120), max_size=6), total=st.integers(0, 60))
def test_spread_places_what_it_can_and_respects_blocks(minutes: list[int], total: int) -> None:
    placed = spread(minutes, total)
    capacity = sum(m // 15 + (1 if m % 15 else 0) for m in minutes)
    assert sum(placed) == min(total, capacity)
    for m, p in zip(minutes, placed, strict=True):
        assert 0 <= p <= m // 15 + (1 if m % 15 else 0)


def test_spread_fills_whole_blocks_in_line_order_first() -> None:
    # 3 units over 40 + 13 minutes: 2 blocks to the first line, then 13 > 10 leftover.
    assert spread([40, 13], 4) == [3, 1]
    assert spread([40, 13], 3) == [2, 1]
    assert spread([40, 13], 2) == [2, 0]
    assert spread([40, 40], 3) == [2, 1]
    assert spread([], 3) == []


# --- Bad input ---


@pytest.mark.parametrize(
    ("minutes", "words"),
    [
        (-1, "negative"),
        (-0.5, "negative"),
        (math.nan, "finite"),
        (math.inf, "finite"),
        (-math.inf, "finite"),
        ("38", "not a number"),
        ("abc", "not a number"),
        (None, "not a number"),
        (True, "not a number"),
        (False, "not a number"),
        (601, "more than 600"),
        (600.5, "more than 600"),
    ],
)
def test_bad_minutes_raise_units_error(minutes: object, words: str) -> None:
    with pytest.raises(UnitsError, match=words):
        units(minutes)  # type: ignore[arg-type]
    with pytest.raises(UnitsError, match=words):
        allocate({"97110": minutes})  # type: ignore[dict-item]


def test_600_minutes_is_allowed() -> None:
    assert units(600) == 40


@pytest.mark.parametrize("rule", ["xyz", "", "cmss", None, 3])
def test_unknown_rule_raises(rule: object) -> None:
    with pytest.raises(UnitsError, match="not a unit rule"):
        units(38, rule)  # type: ignore[arg-type]
    with pytest.raises(UnitsError, match="not a unit rule"):
        allocate({"97110": 38}, rule)  # type: ignore[arg-type]


@pytest.mark.parametrize("code", ["ABC", "9712", "971100", "", "97 10", True, 97.5])
def test_bad_codes_raise(code: object) -> None:
    with pytest.raises(UnitsError, match="not a CPT code"):
        allocate({code: 10})  # type: ignore[dict-item]


def test_the_same_code_twice_raises() -> None:
    with pytest.raises(UnitsError, match="twice"):
        allocate({"97110": 10, " 97110": 5})
    with pytest.raises(UnitsError, match="twice"):
        allocate({"97140": 10, 97140: 5})  # type: ignore[dict-item]


def test_units_error_is_a_value_error_and_a_cptbill_error() -> None:
    from cptbill import CptbillError

    with pytest.raises(CptbillError):
        units(-1)
    with pytest.raises(ValueError):
        units(-1)


def test_error_messages_are_one_sentence() -> None:
    for call in (lambda: units(-1), lambda: units("x"), lambda: units(38, "x"), lambda: allocate({"AB": 1})):
        with pytest.raises(UnitsError) as info:
            call()  # type: ignore[no-untyped-call]
        message = str(info.value)
        assert message.endswith(".")
        assert "\n" not in message
        assert len(message) < 120
