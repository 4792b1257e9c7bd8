"""What departments write (issue 11): one table per kind of text, in eight languages.

Each row is a realistic string and its reading in the compact form of
``test_annotations.tokens``: ``L1=4.5/bipedicular:left`` (level, cement, approach, side),
``L1?`` a mention only, ``L1~`` a level or volume with no procedure or cement word in that
text, ``total=9``, ``cement=4`` (no level), ``hint=<type>[:<row>]``. Negative rows must yield
nothing (or only mentions).
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_annotations import tokens

from vp_log.extract.annotations import parse_annotation
from vp_log.levels import find_level_mentions
from vp_log.vocabulary import load_vocabulary

VOCABULARY = load_vocabulary()

Table = list[tuple[str, list[str]]]

# --- levels written with a space after the letter; LV/TH/BWK/LWK-style prefixes ----------
SPACED_LEVELS: Table = [
    ("T 12 3 ml", ["T12=3~"]),
    ("t 12: 3,5 ml", ["T12=3.5~"]),
    ("L 1 4 ml", ["L1=4~"]),
    ("L 1 - 4,5 ml", ["L1=4.5~"]),
    ("L. 2 cement 3 ml", ["L2=3"]),
    ("Th 12 Zement 3 ml", ["T12=3"]),
    ("TH 12 3.5 ML", ["T12=3.5~"]),
    ("th. 11 2,5 ml", ["T11=2.5~"]),
    ("D 12 3 cc", ["T12=3~"]),
    ("Vertebroplastie D 7 2 cc", ["T7=2", "hint=vertebroplasty"]),
    ("BWK 12 3ml", ["T12=3~"]),
    ("BWK12 3 ml", ["T12=3~"]),
    ("LWK 1 4 ml", ["L1=4~"]),
    ("LWK1: 4 ml", ["L1=4~"]),
    ("HWK 5 1,5 ml", ["C5=1.5~"]),
    ("LV1 4 ml", ["L1=4~"]),
    ("LV 3 cement 5 cc", ["L3=5"]),
    ("Kyphoplastie LW 2 4 ml", ["L2=4", "hint=kyphoplasty"]),
    ("BW 8 Zement 2 ml", ["T8=2"]),
    ("ThWK 12 3 ml", ["T12=3~"]),
    ("Kyphoplastie BWK 12 und LWK 1", ["T12", "L1", "hint=kyphoplasty"]),
    ("vertebroplastica D 12, cemento 3 cc", ["T12=3", "hint=vertebroplasty"]),
    ("vertébroplastie T 12 ciment 3 ml", ["T12=3", "hint=vertebroplasty"]),
    ("vertebroplastia L 2 cemento 4 ml", ["L2=4", "hint=vertebroplasty"]),
    ("vertebroplastiek Th 12 3 ml", ["T12=3", "hint=vertebroplasty"]),
    ("vertebroplastik Th 12 bencement 3 ml", ["T12=3", "hint=vertebroplasty"]),
    ("wertebroplastyka Th 12 cement 3 ml", ["T12=3", "hint=vertebroplasty"]),
    ("kyfoplastyka L 1 4 ml", ["L1=4", "hint=kyphoplasty"]),
    ("Wertebroplastyka L 1 cementu 4 ml", ["L1=4", "hint=vertebroplasty"]),
    # negatives: a decimal or a unit right after the number is no level
    ("L 1,5 ml", []),
    ("T 2 ml", []),
    ("C 3 mg", []),
    ("L 6 4 ml", []),
    ("T 13", []),
    ("Serie 3 L 12", []),
]

# --- one volume for several levels or both sides ------------------------------------------
EACH: Table = [
    ("L1 und L2 je 3 ml", ["L1=3~", "L2=3~"]),
    ("LWK 1 und 2 je 3 ml", ["L1=3~", "L2=3~"]),
    ("Vertebroplastie LWK 1 und LWK 2 je 3 ml", ["L1=3", "L2=3", "hint=vertebroplasty"]),
    ("Kyphoplastie BWK 12, LWK 1 jeweils 4 ml", ["T12=4", "L1=4", "hint=kyphoplasty"]),
    ("T12, L1 and L2: 3 ml each", ["T12=3~", "L1=3~", "L2=3~"]),
    ("T12 and L1 cement 3 ml each", ["T12=3", "L1=3"]),
    ("vertebroplasty T11-L1 3 ml each", ["T11=3", "T12=3", "L1=3", "hint=vertebroplasty"]),
    ("VP T11 to T12, 2.5 ml each level", ["T11=2.5", "T12=2.5", "hint=vertebroplasty"]),
    (
        "3 ml each at T12, L1 and L2 (vertebroplasty)",
        ["T12=3", "L1=3", "L2=3", "hint=vertebroplasty"],
    ),
    (
        "Cimentoplastie L1 et L2 : 4 ml chacune",
        ["L1=4", "L2=4", "hint=vertebroplasty:augmentation"],
    ),
    ("vertébroplastie L2, L3 : 3 ml chacun", ["L2=3", "L3=3", "hint=vertebroplasty"]),
    ("vertebroplastica L1 e L2 3 ml ciascuno", ["L1=3", "L2=3", "hint=vertebroplasty"]),
    ("cifoplastica D12-L1 cemento 4 ml ciascuna", ["T12=4", "L1=4", "hint=kyphoplasty"]),
    ("vertebroplastia L1 y L2, 3 ml cada uno", ["L1=3", "L2=3", "hint=vertebroplasty"]),
    ("cifoplastia T12 y L1 4 cc cada una", ["T12=4", "L1=4", "hint=kyphoplasty"]),
    ("vertebroplastiek L1 en L2 elk 3 ml", ["L1=3", "L2=3", "hint=vertebroplasty"]),
    ("vertebroplastik L1 och L2 3 ml per nivå", ["L1=3", "L2=3", "hint=vertebroplasty"]),
    ("vertebroplastik Th12 och L1 vardera 2,5 ml", ["T12=2.5", "L1=2.5", "hint=vertebroplasty"]),
    ("wertebroplastyka L1 i L2 po 3 ml", ["L1=3", "L2=3", "hint=vertebroplasty"]),
    ("kyfoplastyka Th12, L1 każdy 4 ml", ["T12=4", "L1=4", "hint=kyphoplasty"]),
    ("L1 und L2\nje 3 ml", ["L1=3~", "L2=3~"]),
    ("L1 4 ml, L2 und L3 je 2 ml", ["L1=4~", "L2=2~", "L3=2~"]),
    # per side: twice the volume, both sides
    ("L1 bipedicular 2 ml per side", ["L1=4/bipedicular:bilateral~"]),
    ("VP L1 2 ml each side", ["L1=4:bilateral", "hint=vertebroplasty"]),
    ("LWK 1 bds. 2 ml", ["L1=4:bilateral~"]),
    ("Vertebroplastie LWK 3 beidseits 2,5 ml", ["L3=5:bilateral", "hint=vertebroplasty"]),
    ("Kyphoplastie LWK 2 bipedikulär je 2 ml", ["L2=4/bipedicular:bilateral", "hint=kyphoplasty"]),
    ("L1 bilateral, 1.5 ml per pedicle, PMMA", ["L1=3:bilateral"]),
    ("vertébroplastie L2 2 ml par côté", ["L2=4:bilateral", "hint=vertebroplasty"]),
    ("vertebroplastica L3 2 ml per lato", ["L3=4:bilateral", "hint=vertebroplasty"]),
    ("vertebroplastia L4 2 ml por lado", ["L4=4:bilateral", "hint=vertebroplasty"]),
    ("vertebroplastiek L1 2 ml per zijde", ["L1=4:bilateral", "hint=vertebroplasty"]),
    ("vertebroplastik L1 2 ml per sida", ["L1=4:bilateral", "hint=vertebroplasty"]),
    ("wertebroplastyka L1 obustronnie po 2 ml", ["L1=4:bilateral", "hint=vertebroplasty"]),
    ("L1 und L2 je 2 ml pro Seite, Zement", ["L1=4:bilateral", "L2=4:bilateral"]),
    ("sacroplasty 4 ml per side", ["sacrum=8:bilateral", "hint=sacroplasty"]),
    # no each word: unchanged readings
    ("T11-L1 9 ml", ["T11~", "T12~", "L1~", "total=9"]),
    ("L1 3 ml each", ["L1=3~"]),
    ("contrast 2 ml each L1 L2", ["L1?", "L2?"]),
]

# --- bipedicular sums ----------------------------------------------------------------------
SUMS: Table = [
    ("L1 2+2 ml", ["L1=4~"]),
    ("L1 2 + 2 ml", ["L1=4~"]),
    ("L1 2 ml + 2 ml", ["L1=4~"]),
    ("L2 2 + 1,5 cc", ["L2=3.5~"]),
    ("LWK 2 Zement 2,5+2 ml", ["L2=4.5"]),
    ("Kyphoplastie LWK 1 bipedikulär 3+3 ml", ["L1=6/bipedicular", "hint=kyphoplasty"]),
    ("T12 bipedicular 1.5 + 1.5 mL PMMA", ["T12=3/bipedicular"]),
    ("vertébroplastie L3 bipédiculaire 2+2 cc", ["L3=4/bipedicular", "hint=vertebroplasty"]),
    ("vertebroplastica L4 bipeduncolare 2+1,5 ml", ["L4=3.5/bipedicular", "hint=vertebroplasty"]),
    ("vertebroplastia L1 bipedicular 2 + 2 ml", ["L1=4/bipedicular", "hint=vertebroplasty"]),
    ("vertebroplastiek L1 bipediculair 2+2 ml", ["L1=4/bipedicular", "hint=vertebroplasty"]),
    ("vertebroplastik L1 bipedikulär 2+2 ml", ["L1=4/bipedicular", "hint=vertebroplasty"]),
    ("wertebroplastyka L1 obunasadowo 2+2 ml", ["L1=4/bipedicular", "hint=vertebroplasty"]),
    ("L1 2 ml + 1,5 ml = 3,5 ml", ["L1=3.5~", "total=3.5"]),
    ("T12 1+1+1 ml", ["T12=3~"]),
    # not sums
    ("L1 4.5ml + L2 3ml", ["L1=4.5~", "L2=3~"]),
    ("L1 4 ml + L2 3 ml = 7 ml", ["L1=4~", "L2=3~", "total=7"]),
    (
        "Vertebroplastie LWK 2 li 2 ml + re 2,5 ml",
        ["L2=2:left", "L2=2.5:right", "hint=vertebroplasty"],
    ),
    ("L1 2 + contrast 2 ml", ["L1?"]),
]

# --- a level and its volume on two lines; one level and only a total ------------------------
LINES: Table = [
    ("L1\n4,5 ml", ["L1=4.5~"]),
    ("Vertebroplastie L1\n4,5 ml", ["L1=4.5", "hint=vertebroplasty"]),
    ("Kyphoplasty\nT12\n3.5 mL", ["T12=3.5", "hint=kyphoplasty"]),
    ("LWK 2\nZement 4 ml", ["L2=4"]),
    ("Th12\r\n3 ml", ["T12=3~"]),
    ("BWK 12 bipedikulär\n4 ml", ["T12=4/bipedicular~"]),
    ("L1\nli 2 ml\nre 2 ml", ["L1=2:left~", "L1=2:right~"]),
    ("T12, L1\n7 ml", ["T12~", "L1~", "total=7"]),
    ("L1; 4 ml", ["L1=4~"]),
    ("vertebroplastica L2\ncemento 3 ml", ["L2=3", "hint=vertebroplasty"]),
    ("cifoplastia L1\n4 cc", ["L1=4", "hint=kyphoplasty"]),
    ("L1 kyphoplasty, total cement 4 ml", ["L1", "total=4", "hint=kyphoplasty"]),
    # negatives: the next line is not cement
    ("L1\ncontrast 10 ml", ["L1?"]),
    ("L1\n10 ml Omnipaque", ["L1?"]),
    ("L1 4 ml\n2 ml", ["L1=4~"]),
]

# --- RIS abbreviations -----------------------------------------------------------------------
ABBREVIATIONS: Table = [
    ("KYPHO L1", ["L1", "hint=kyphoplasty"]),
    ("Kypho LWK 1", ["L1", "hint=kyphoplasty"]),
    ("KYPHO TH12 BDS", ["T12:bilateral", "hint=kyphoplasty"]),
    ("VERTEBRO L2", ["L2", "hint=vertebroplasty"]),
    ("VERTEBROPL. LWS", ["hint=vertebroplasty"]),
    ("VERTEBRO TH12-L1", ["T12", "L1", "hint=vertebroplasty"]),
    ("SACRO BILAT", ["hint=sacroplasty", "side=bilateral"]),
    ("SACRO LI 4 ml", ["sacrum=4:left", "hint=sacroplasty"]),
    ("SAKRO bds.", ["hint=sacroplasty", "side=bilateral"]),
    ("VP L1", ["L1", "hint=vertebroplasty"]),
    ("PVP T12", ["T12", "hint=vertebroplasty"]),
    ("BKP L2, L3", ["L2", "L3", "hint=kyphoplasty"]),
    ("KP LWK 1", ["L1", "hint=kyphoplasty"]),
    ("PKP T11", ["T11", "hint=kyphoplasty"]),
    ("PWP Th12", ["T12", "hint=vertebroplasty"]),
    ("CIFO L1", ["L1", "hint=kyphoplasty"]),
    ("KYFO L2", ["L2", "hint=kyphoplasty"]),
    ("IR KYPHO LWS", ["hint=kyphoplasty"]),
    # negatives
    ("KYPHO", []),
    ("VP", []),
    ("VP shunt L1", ["L1?"]),
    ("vertebro-basilar VERTEBRO angio", []),
    ("RX SACRO", ["sacrum?"]),
    ("RX SACRO COCCIGE", ["sacrum?", "Co?"]),
    ("KP clinic", []),
    ("Vp l1", ["L1?"]),
]

# --- a balloon at a level is kyphoplasty evidence -------------------------------------------
BALLOON: Table = [
    ("L2 balloon 3 ml", ["L2", "hint=kyphoplasty:balloon"]),
    (
        "vertebral augmentation T12, balloon",
        ["T12", "hint=vertebroplasty:augmentation", "hint=kyphoplasty:balloon"],
    ),
    ("LWK 1 Ballon 2,5 ml KM, Zement 4 ml", ["L1=4", "hint=kyphoplasty:balloon"]),
    ("L1 palloncino, cemento 3 ml", ["L1=3", "hint=kyphoplasty:balloon"]),
    ("L1 balón 3 ml contraste, cemento 4 ml", ["L1=4", "hint=kyphoplasty:balloon"]),
    ("Th12 ballon bilateraal", ["T12:bilateral", "hint=kyphoplasty:balloon"]),
    ("L3 inflatable bone tamp", ["L3", "hint=kyphoplasty:balloon"]),
    # no vertebra: no evidence
    ("balloon 3 ml", []),
    ("PTA balloon iliac", []),
    ("Ballonkatheter 5 ml", []),
]

# --- another procedure named: nothing is cement ---------------------------------------------
OTHER_PROCEDURES: Table = [
    ("Facet injection L4/5 bilateral 1 ml", ["hint=other:facet-injection"]),
    ("Facettengelenksinfiltration L4/5 bds.", ["hint=other:facet-injection"]),
    ("infiltration facettaire L4-L5 2 ml", ["hint=other:injection", "hint=other:facet-injection"]),
    ("infiltrazione faccette L4-L5 2 ml", ["hint=other:injection", "hint=other:facet-injection"]),
    ("bloqueo facetas L4-L5 1 ml", ["hint=other:injection", "hint=other:facet-injection"]),
    ("PRT L5 links 2 ml", ["L5?", "hint=other:nerve-root-injection"]),
    (
        "Periradikuläre Therapie L5 re, 1 ml Triamcinolon",
        ["L5?", "hint=other:nerve-root-injection"],
    ),
    (
        "transforaminal epidural injection L5 4 ml",
        ["L5?", "hint=other:nerve-root-injection", "hint=other:epidural-injection"],
    ),
    ("nerve root block S1 2 ml", ["S1?", "hint=other:nerve-root-injection"]),
    ("Epidural L4 10 ml", ["L4?", "hint=other:epidural-injection"]),
    ("péridurale L3 8 ml", ["L3?", "hint=other:epidural-injection"]),
    ("Lumbar puncture L3/4", ["hint=other:lumbar-puncture"]),
    ("Lumbalpunktion LWK 3/4 10 ml Liquor", ["hint=other:lumbar-puncture"]),
    ("ponction lombaire L4-L5", ["L4?", "L5?", "hint=other:lumbar-puncture"]),
    ("LP L3/4", ["hint=other:lumbar-puncture"]),
    (
        "Myelography L1-S1 10 ml",
        ["L1?", "L2?", "L3?", "L4?", "L5?", "S1?", "hint=other:myelography"],
    ),
    ("mielografia lombare 12 ml", ["hint=other:myelography"]),
    ("Discography L4-5 disc 3 ml", ["hint=other:discography"]),
    ("Diskographie L4/5", ["hint=other:discography"]),
    ("Biopsie LWK 2", ["L2?", "hint=other:biopsy"]),
    ("biopsia L2 11G", ["L2?", "hint=other:biopsy"]),
    ("TLIF L4/5 cemented screws 2 ml each", ["hint=other:fusion"]),
    (
        "Dorsale Spondylodese L3-L5, zementaugmentierte Schrauben 1,5 ml",
        ["L3?", "L4?", "L5?", "hint=other:fusion"],
    ),
    ("L4 pedicle screw augmentation PMMA 2 ml", ["L4=2", "hint=other:fusion"]),
    (
        "ISG-Infiltration links 2 ml",
        ["hint=other:sacroiliac-injection", "hint=other:injection"],
    ),
    ("NaCl infusion 500 ml", []),
    # history words put an other procedure aside
    (
        "Z.n. Spondylodese L2-L4, Kyphoplastie BWK 12",
        ["L2?", "L3?", "L4?", "T12", "hint=kyphoplasty"],
    ),
    (
        "Vertebroplasty L1 above previous fusion L2-L5",
        ["L1", "L2?", "L3?", "L4?", "L5?", "hint=vertebroplasty"],
    ),
    # an augmentation word keeps its cement beside a biopsy
    (
        "Vertebroplastie LWK 2 mit Biopsie, Zement 4 ml",
        ["L2=4", "hint=vertebroplasty", "hint=other:biopsy"],
    ),
]

# --- joints are not two vertebrae -----------------------------------------------------------
JOINTS: Table = [
    ("L4/5", []),
    ("LWK 4/5", []),
    ("L5/S1 disc", []),
    ("L4-5 disc", []),
    ("L4-L5 Bandscheibe", []),
    ("facet L4/L5", ["hint=other:facet-injection"]),
    ("BWK 11/12", []),
    ("segmento L4-L5", []),
    ("disque L4-L5", []),
    ("dysk L4-L5", []),
    # ranges and lists of vertebrae stay vertebrae
    ("VP L4-5", ["L4", "L5", "hint=vertebroplasty"]),
    ("PVP L1/L2", ["L1", "L2", "hint=vertebroplasty"]),
    ("Vertebroplasty L1-3", ["L1", "L2", "L3", "hint=vertebroplasty"]),
]

# --- approach with accents, other spellings and languages -----------------------------------
APPROACHES: Table = [
    ("L2 bipédiculaire 5 ml", ["L2=5/bipedicular~"]),
    (
        "vertébroplastie L2 unipédiculaire gauche 3 ml",
        ["L2=3/unipedicular:left", "hint=vertebroplasty"],
    ),
    ("LWK 2 bipedikulär 4 ml", ["L2=4/bipedicular~"]),
    ("LWK 2 BIPEDIKULÄR 4 ml", ["L2=4/bipedicular~"]),
    ("Kyphoplastie LWK 1 transpedikulär", ["L1/transpedicular", "hint=kyphoplasty"]),
    ("L1 unipeduncular 3 ml PMMA", ["L1=3/unipedicular"]),
    (
        "vertebroplastica L1 monopeduncolare sx 3 ml",
        ["L1=3/unipedicular:left", "hint=vertebroplasty"],
    ),
    (
        "vertebroplastia L1 transpedicular derecha 3 ml",
        ["L1=3/transpedicular:right", "hint=vertebroplasty"],
    ),
    ("vertebroplastiek L1 bipediculair 4 ml", ["L1=4/bipedicular", "hint=vertebroplasty"]),
    ("vertebroplastik L1 bipedikulär 4 ml", ["L1=4/bipedicular", "hint=vertebroplasty"]),
    (
        "wertebroplastyka L1 przeznasadowo lewostronnie 3 ml",
        ["L1=3/transpedicular:left", "hint=vertebroplasty"],
    ),
    (
        "Vertebroplastie bipédiculaire",
        ["hint=vertebroplasty", "approach=bipedicular"],
    ),
    ("Kyphoplastie bipedikulär", ["hint=kyphoplasty", "approach=bipedicular"]),
    (
        "sacroplasty short axis bilateral 6 ml",
        ["sacrum=6/short-axis:bilateral", "hint=sacroplasty"],
    ),
    # an approach word alone does not make a treated level
    ("L2 bipedicular", ["L2?"]),
    ("pedicle L2 transpedicular screw", ["L2?", "hint=other:fusion"]),
]

TABLES = {
    "spaced-levels": SPACED_LEVELS,
    "each": EACH,
    "sums": SUMS,
    "lines": LINES,
    "abbreviations": ABBREVIATIONS,
    "balloon": BALLOON,
    "other-procedures": OTHER_PROCEDURES,
    "joints": JOINTS,
    "approaches": APPROACHES,
}
ROWS = [(kind, text, expected) for kind, table in TABLES.items() for text, expected in table]


@pytest.mark.parametrize(("kind", "text", "expected"), ROWS, ids=[f"{k}:{t}" for k, t, _ in ROWS])
def test_reading_table(kind: str, text: str, expected: list[str]) -> None:
    assert tokens(parse_annotation(text, VOCABULARY)) == expected


def test_every_kind_has_many_rows() -> None:
    for kind, table in TABLES.items():
        assert len(table) >= 10, kind


def test_every_value_keeps_its_text() -> None:
    parse = parse_annotation("Kyphoplastie LWK 1 und 2 je 2+2 ml", VOCABULARY)
    for item in parse.levels:
        assert item.raw_volume == "2+2 ml"
        assert "each" in item.flags and "sum:2+2" in item.flags
    assert [i.cement_ml for i in parse.levels] == [4.0, 4.0]
    (hint,) = parse.procedure_hints
    assert hint.text == "Kyphoplast" and "kyphoplasty" in hint.reason()
    ignored = parse_annotation("Facette L4/5 bds. 1 ml", VOCABULARY).ignored_volumes
    assert [(v.raw, v.reason) for v in ignored] == [("1 ml", "joint:L4/L5")]
    ignored = parse_annotation("Epidural L4 10 ml", VOCABULARY).ignored_volumes
    assert [v.reason for v in ignored] == ["other:epidural-injection"]


# --- the property: no augmentation word and no cement word, no treated level ----------------

_PIECES = st.sampled_from(
    [
        "L1", "T12", "Th 12", "T 12", "L 1", "BWK 12", "LWK 1", "LV2", "D 7", "S1", "sacrum",
        "L4/5", "L4-L5", "T11-L1", " ", "  ", "-", "–", ",", ".", ":", "/", "+", "=", ";",
        "\n", "ml", " ml", "cc", "cm3", "3", "4,5", "2.5", "2+2 ml", "je", "each", "bds.",
        "per side", "chacune", "ciascuno", "cada uno", "elk", "vardera", "każdy", "po",
        "left", "li", "re", "bilateral", "bipedicular", "bipédiculaire", "transpedikulär",
        "total", "gesamt", "contrast", "Omnipaque", "lidocaine", "screw", "facet",
        "Facettengelenk", "epidural", "PRT", "LP", "biopsy", "disc", "fracture", "S/P",
        "VP shunt", "Mean: 12", "Area", "RX", "SACRO COCCIGE",
    ]
)  # fmt: skip


def _names_augmentation_or_cement(text: str) -> bool:
    """Any word of an augmentation row (a procedure, an abbreviation that counts, a balloon at
    a vertebra, a generic word) or a cement word."""
    levels = [lv for m in find_level_mentions(text) for lv in m.levels]
    hits = VOCABULARY.find_procedures(text, levels=levels)
    return (
        any(h.is_augmentation for h in hits)
        or bool(VOCABULARY.augmentation_words(text))
        or bool(VOCABULARY.find_words("cement", text))
    )


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(), st.lists(_PIECES, max_size=24).map("".join)))
def test_no_augmentation_or_cement_word_no_treated_level(text: str) -> None:
    parse = parse_annotation(text, VOCABULARY)  # never raises
    assume(not _names_augmentation_or_cement(text))
    assert parse.treated_levels == []
    assert not [h for h in parse.procedure_hints if h.is_augmentation]


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=30).map("".join))
def test_reader_never_raises_and_volumes_are_positive(text: str) -> None:
    parse = parse_annotation(text, VOCABULARY)
    for item in parse.levels:
        assert item.cement_ml is None or item.cement_ml >= 0
        assert item.cement_ml is None or item.raw_volume
