"""Spinal levels: notations, ranges, order, adjacency, coded anatomy."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vp_log.levels import (
    Region,
    SpinalLevel,
    expand_range,
    find_level_mentions,
    find_levels,
    is_adjacent,
    level_from_code,
    parse_level,
    parse_levels,
)

L = SpinalLevel
SEGMENTS = SpinalLevel.segments()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("T12", L.T12),
        ("t12", L.T12),
        ("Th12", L.T12),
        ("TH12", L.T12),
        ("Th.12", L.T12),
        ("th 12", L.T12),
        ("D12", L.T12),
        ("d7", L.T7),
        ("BWK 12", L.T12),
        ("BWK12", L.T12),
        ("LWK 1", L.L1),
        ("lwk1", L.L1),
        ("HWK 3", L.C3),
        ("C1", L.C1),
        ("C7", L.C7),
        ("L5", L.L5),
        ("S1", L.S1),
        ("S5", L.S5),
        ("sacrum", L.SACRUM),
        ("Kreuzbein", L.SACRUM),
        ("coccyx", L.COCCYX),
        ("Co", L.COCCYX),
        ("  L2  ", L.L2),
    ],
)
def test_parse_level_notations(text: str, expected: SpinalLevel) -> None:
    assert parse_level(text) is expected


@pytest.mark.parametrize(
    "text", ["", "L", "L0", "L6", "T13", "C8", "S6", "X1", "L1-L2", "L1 4ml", "12", "LL1"]
)
def test_parse_level_rejects_with_the_text_named(text: str) -> None:
    with pytest.raises(ValueError, match="must name one spinal level") as info:
        parse_level(text)
    assert repr(text) in str(info.value)


def test_parse_level_type_error() -> None:
    with pytest.raises(TypeError, match='Argument "text"'):
        parse_level(12)  # type: ignore[arg-type]


def test_str_is_canonical_and_enum_accepts_notations() -> None:
    assert str(L.T12) == "T12"
    assert str(L.SACRUM) == "sacrum"
    assert SpinalLevel("Th12") is L.T12
    assert SpinalLevel("BWK 12") is L.T12
    with pytest.raises(ValueError):
        SpinalLevel("L6")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("L1-L2", ["L1", "L2"]),
        ("T11–L1", ["T11", "T12", "L1"]),
        ("T11—L1", ["T11", "T12", "L1"]),
        ("T11 to L1", ["T11", "T12", "L1"]),
        ("BWK 11 bis LWK 1", ["T11", "T12", "L1"]),
        ("L1-3", ["L1", "L2", "L3"]),
        ("L2-L1", ["L1", "L2"]),
        ("L1, L3", ["L1", "L3"]),
        ("L3, L1", ["L3", "L1"]),
        ("L1 and L2", ["L1", "L2"]),
        ("L1 und L2", ["L1", "L2"]),
        ("L1/L2", ["L1", "L2"]),
        ("L1+L2", ["L1", "L2"]),
        ("T12, L1-L2", ["T12", "L1", "L2"]),
        ("L4-S1", ["L4", "L5", "S1"]),
        ("L1, L1", ["L1"]),
    ],
)
def test_parse_levels(text: str, expected: list[str]) -> None:
    assert [str(lv) for lv in parse_levels(text)] == expected


@pytest.mark.parametrize("text", ["", "L1, screw", "L1 and S", "foo"])
def test_parse_levels_rejects(text: str) -> None:
    with pytest.raises(ValueError, match='Argument "text"'):
        parse_levels(text)


def test_find_levels_in_free_text() -> None:
    text = "VP T11-L1; BWK 12 3ml, LWK 1 4ml, S1 sacroplasty, L6 transitional, T13"
    assert [str(lv) for lv in find_levels(text)] == ["T11", "T12", "L1", "S1"]
    assert find_levels("C-arm, CL12, PL1, 12 ml") == []
    assert find_levels("sacroplasty left") == []  # "sacro" inside a word is not the sacrum
    assert find_levels("sacrum left") == [L.SACRUM]


def test_short_range_end_is_not_a_volume() -> None:
    mentions = find_level_mentions("L1-2 ml")
    assert [m.levels for m in mentions] == [(L.L1,)]
    assert find_level_mentions("L1-2,5ml")[0].levels == (L.L1,)
    assert find_level_mentions("L1-2 bipedicular")[0].levels == (L.L1, L.L2)


def test_mention_spans() -> None:
    (mention,) = find_level_mentions("VP T11–L1 done")
    assert (mention.start, mention.end, mention.is_range) == (3, 9, True)


def test_extra_notations() -> None:
    notations = {Region.THORACIC: ["T", "Dorsale"], "lumbar": ["L", "Lombaire"]}
    assert parse_level("Dorsale 12", notations=notations) is L.T12
    assert find_levels("Lombaire 2", notations=notations) == [L.L2]
    with pytest.raises(ValueError, match="Region"):
        parse_level("L1", notations={"Q": ["Q"]})


def test_order() -> None:
    assert L.C7 < L.T1 < L.T12 < L.L1 < L.L5 < L.SACRUM < L.S1 < L.S5 < L.COCCYX
    assert sorted([L.L1, L.C2, L.S1, L.T12]) == [L.C2, L.T12, L.L1, L.S1]
    assert max(L.L1, L.T12) is L.L1


@pytest.mark.parametrize(
    ("a", "b", "adjacent"),
    [
        ("T12", "L1", True),
        ("L5", "S1", True),
        ("C7", "T1", True),
        ("L1", "L2", True),
        ("L1", "L3", False),
        ("L1", "L1", False),
        ("T11", "L2", False),
        ("L5", "sacrum", True),
        ("sacrum", "S1", False),
        ("sacrum", "coccyx", True),
        ("S5", "coccyx", True),
    ],
)
def test_adjacency(a: str, b: str, adjacent: bool) -> None:
    assert is_adjacent(a, b) is adjacent
    assert is_adjacent(b, a) is adjacent


def test_follow_up_use() -> None:
    # A new L2 fracture after an L1 treatment is adjacent; after T11 it is not.
    assert is_adjacent(parse_level("L1"), parse_level("L2"))
    assert not is_adjacent(parse_level("T11"), parse_level("L2"))


def test_expand_range() -> None:
    assert expand_range("T11", "L1") == [L.T11, L.T12, L.L1]
    assert expand_range(L.L1, L.T11) == [L.T11, L.T12, L.L1]
    assert expand_range("L5", "S2") == [L.L5, L.S1, L.S2]
    with pytest.raises(ValueError, match='Argument "b"'):
        expand_range("L5", "sacrum")
    with pytest.raises(TypeError, match='Argument "a"'):
        expand_range(1, "L1")  # type: ignore[arg-type]


def test_codes() -> None:
    assert level_from_code("66794005", "SCT") is L.L1
    assert level_from_code("T-11910", "SRT") is L.L1
    assert level_from_code("23215003", "SCT") is L.T12
    assert level_from_code("54735007", "SCT") is L.SACRUM
    assert level_from_code("66794005", "LN") is None
    assert level_from_code("T-D00F7", "SRT") is None


# --- properties ------------------------------------------------------------------------

segments = st.sampled_from([lv for lv in SEGMENTS if lv.number is not None])
levels = st.sampled_from(list(SpinalLevel))

_FORMATS = {
    "T": ["T{n}", "Th{n}", "th{n}", "D{n}", "BWK {n}", "Th.{n}", "t{n}"],
    "L": ["L{n}", "LWK {n}", "l{n}", "LWK{n}"],
    "C": ["C{n}", "HWK {n}", "c{n}"],
    "S": ["S{n}", "s{n}"],
}


@st.composite
def formatted(draw: st.DrawFn) -> tuple[SpinalLevel, str]:
    level = draw(st.sampled_from([lv for lv in SEGMENTS if lv.number is not None]))
    fmt = draw(st.sampled_from(_FORMATS[level.region.value]))
    return level, fmt.format(n=level.number)


@given(formatted())
def test_format_then_parse_round_trips(case: tuple[SpinalLevel, str]) -> None:
    level, text = case
    assert parse_level(text) is level
    assert parse_level(str(level)) is level


@given(levels)
def test_canonical_str_round_trips(level: SpinalLevel) -> None:
    assert parse_level(str(level)) is level
    assert SpinalLevel(str(level)) is level


@given(segments, segments, st.sampled_from(["-", "–", " to ", " - "]))
def test_range_expands_in_order(a: SpinalLevel, b: SpinalLevel, dash: str) -> None:
    expanded = parse_levels(f"{a}{dash}{b}")
    assert expanded == sorted(expanded)
    assert expanded[0] == min(a, b) and expanded[-1] == max(a, b)
    assert len(expanded) == abs(a.span[0] - b.span[0]) + 1
    assert all(is_adjacent(x, y) for x, y in itertools.pairwise(expanded))


@given(levels, levels)
def test_adjacency_is_symmetric(a: SpinalLevel, b: SpinalLevel) -> None:
    assert is_adjacent(a, b) == is_adjacent(b, a)
    if a is b:
        assert not is_adjacent(a, b)


@given(st.text())
def test_find_levels_never_raises(text: str) -> None:
    for level in find_levels(text):
        assert isinstance(level, SpinalLevel)


# --- notations seen in the field (issue 11) ------------------------------------------------

MENTIONS: list[tuple[str, list[tuple[list[str], bool]]]] = [
    # (text, [(levels, is a joint)])
    ("T 12", [(["T12"], False)]),
    ("t 12", [(["T12"], False)]),
    ("L 1", [(["L1"], False)]),
    ("L. 1", [(["L1"], False)]),
    ("Th 12", [(["T12"], False)]),
    ("TH12", [(["T12"], False)]),
    ("D 12", [(["T12"], False)]),
    ("LV1", [(["L1"], False)]),
    ("LV 5", [(["L5"], False)]),
    ("LW 3", [(["L3"], False)]),
    ("BW 8", [(["T8"], False)]),
    ("HW 5", [(["C5"], False)]),
    ("ThWK 11", [(["T11"], False)]),
    ("BWK 12 / LWK 1", [(["T12"], False), (["L1"], False)]),
    ("LWK 1 und 2", [(["L1", "L2"], False)]),
    ("L1, 2 and 3", [(["L1", "L2", "L3"], False)]),
    ("T 11 - L 1", [(["T11", "T12", "L1"], False)]),
    ("L4/5", [(["L4", "L5"], True)]),
    ("LWK 4/5", [(["L4", "L5"], True)]),
    ("BWK 11/12", [(["T11", "T12"], True)]),
    ("L 4/5", [(["L4", "L5"], True)]),
    ("L4/L5", [(["L4"], False), (["L5"], False)]),
    ("L4-5", [(["L4", "L5"], False)]),
    # negatives: numbers that are volumes, doses or out of range
    ("L 1,5 ml", []),
    ("T 2 ml", []),
    ("C 3 mg", []),
    ("L 6", []),
    ("T 13", []),
    ("L1 und 2,5 ml", [(["L1"], False)]),
    ("T12 und 1", [(["T12"], False)]),
    ("L4/6", [(["L4"], False)]),
]


@pytest.mark.parametrize(("text", "expected"), MENTIONS, ids=[t for t, _ in MENTIONS])
def test_field_notations(text: str, expected: list[tuple[list[str], bool]]) -> None:
    found = [([str(lv) for lv in m.levels], m.joint) for m in find_level_mentions(text)]
    assert found == expected
