"""The follow-up instruments: one declarative table from which everything else is derived.

An :class:`Instrument` (pain NRS, Oswestry, Roland-Morris, analgesics, EQ-5D-5L) is a group of
:class:`Item` s. An item's ``name`` is its field in the entry models and the JSON, its column in
the database (``followup_versions``) and in CSV import/export; ``flag`` is its command-line
option; ``prompt`` what the interactive form asks; ``header`` its column in tables; ``outcome``
whether a change from baseline is computed for it. The models (:mod:`.models`), the database
columns (``vp_log.db.followup_tables``), the CLI options and prompts (``vp_log.cli.followup``),
corrections (:mod:`.entries`) and the timeline (:mod:`.timeline`) all read :data:`INSTRUMENTS`.

Adding an instrument is one entry in :data:`INSTRUMENTS` plus an Alembic migration that adds its
columns (``tests/unit/followup/test_instruments.py`` checks the two agree).

Values are parsed here, from what people type or a spreadsheet holds: a decimal comma (``3,5``),
a trailing ``%`` where the item is a percentage (``64%``), upper or lower case for choices. A
refusal is a ``ValueError`` whose text says why; :func:`.models.describe_validation_error` adds
the user's name for the item and what is allowed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator

# --- value kinds -----------------------------------------------------------------------------


def _number_text(value: Any, *, percent: bool) -> Any:
    """``'3,5'`` -> ``'3.5'``; ``'64%'`` -> ``'64'`` (percent items only); other values as given."""
    if not isinstance(value, str):
        return value
    text = value.strip().replace(" ", "")
    if percent:
        text = text.removesuffix("%")
    if re.fullmatch(r"[+-]?\d+,\d+", text):
        text = text.replace(",", ".")
    return text


@dataclass(frozen=True)
class Number:
    """A number from ``minimum`` to ``maximum``: whole, or with at most ``decimals`` decimals."""

    minimum: float
    maximum: float
    whole: bool = False
    decimals: int | None = None
    percent: bool = False

    def allowed(self) -> str:
        low, high = f"{self.minimum:g}", f"{self.maximum:g}"
        if self.whole:
            return f"a whole number {low}–{high}"
        text = f"{low}–{high}"
        if self.decimals is not None:
            text += (
                f", at most {'one decimal' if self.decimals == 1 else f'{self.decimals} decimals'}"
            )
        return text + (" (%)" if self.percent else "")

    def parse(self, value: Any) -> float | int:
        """The value as a number, or ValueError saying why not."""
        if isinstance(value, bool):
            msg = "not a number"
            raise ValueError(msg)
        raw = _number_text(value, percent=self.percent)
        try:
            number = float(raw)
        except (TypeError, ValueError):
            msg = "not a number"
            raise ValueError(msg) from None
        if not math.isfinite(number):
            msg = "not a finite number"
            raise ValueError(msg)
        if number < self.minimum or number > self.maximum:
            side = "below the minimum" if number < self.minimum else "above the maximum"
            msg = f"{side} ({self.minimum:g}–{self.maximum:g})"
            raise ValueError(msg)
        if self.whole:
            if number != int(number):
                msg = "not a whole number"
                raise ValueError(msg)
            return int(number)
        if self.decimals is not None:
            scaled = number * 10**self.decimals
            if abs(scaled - round(scaled)) > 1e-6:
                msg = (
                    "at most one decimal is allowed"
                    if self.decimals == 1
                    else f"at most {self.decimals} decimals are allowed"
                )
                raise ValueError(msg)
            number = round(number, self.decimals)
        return number

    def annotation(self) -> Any:
        base = int if self.whole else float
        return Annotated[
            base | None, BeforeValidator(lambda v: None if v is None else self.parse(v))
        ]


@dataclass(frozen=True)
class Choice:
    """One of an enumeration's values (case-insensitive; ``aliases`` map other spellings)."""

    enum: type[StrEnum]
    aliases: dict[str, str] = field(default_factory=dict)

    def allowed(self) -> str:
        return ", ".join(m.value for m in self.enum)

    def parse(self, value: Any) -> StrEnum:
        if isinstance(value, self.enum):
            return value
        key = str(value).strip().lower().replace(" ", "-").replace("_", "-")
        key = self.aliases.get(key, key)
        try:
            return self.enum(key)
        except ValueError:
            msg = "not one of the allowed values"
            raise ValueError(msg) from None

    def annotation(self) -> Any:
        return Annotated[
            self.enum | None, BeforeValidator(lambda v: None if v is None else self.parse(v))
        ]


@dataclass(frozen=True)
class Sections:
    """The section scores of a questionnaire, ``None`` for an unanswered one.

    Typed as ``2,3,1,-,0,...`` or ``2 3 1 - 0 ...`` (``-`` or an empty item: unanswered).
    """

    count: int
    minimum: int
    maximum: int
    max_unanswered: int

    def allowed(self) -> str:
        return (
            f"{self.count} section scores {self.minimum}–{self.maximum}, "
            f"at most {'one' if self.max_unanswered == 1 else self.max_unanswered} unanswered"
        )

    @staticmethod
    def split(text: str) -> list[str | None]:
        items = re.split(r"[,;]", text) if re.search(r"[,;]", text) else text.split()
        return [None if p.strip() in ("", "-") else p.strip() for p in items]

    def parse(self, value: Any) -> list[int | None]:
        items = self.split(value) if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            msg = "not a list of section scores"
            raise ValueError(msg)
        scores: list[int | None] = []
        section = Number(self.minimum, self.maximum, whole=True)
        for n, item in enumerate(items, 1):
            if item is None or (isinstance(item, str) and item.strip() in ("", "-")):
                scores.append(None)
                continue
            try:
                scores.append(int(section.parse(item)))
            except ValueError as exc:
                msg = f"section {n} = {item!r}: {exc}"
                raise ValueError(msg) from None
        return scores

    def annotation(self) -> Any:
        return Annotated[
            list[int | None] | None,
            BeforeValidator(lambda v: None if v is None else self.parse(v)),
        ]


Kind = Number | Choice | Sections


# --- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One value staff enter; see the module docstring for what each name is used for."""

    name: str
    flag: str
    prompt: str
    header: str
    help: str
    kind: Kind
    outcome: bool = False
    label: str = ""
    """What summaries call it (default: ``header``)."""

    @property
    def title(self) -> str:
        return self.label or self.header

    @property
    def option(self) -> str:
        """The option name without dashes, as ``--clear`` takes it."""
        return self.flag.removeprefix("--")

    def allowed(self) -> str:
        return self.kind.allowed()


@dataclass(frozen=True)
class Scored:
    """A total computed from section scores (both are stored; a given total must agree)."""

    sections: str
    total: str
    score: Callable[[list[int | None]], float]


@dataclass(frozen=True)
class Instrument:
    """A questionnaire or scale: its items, asked together."""

    name: str
    title: str
    short: str
    items: tuple[Item, ...]
    scored: Scored | None = None
    skip_rest_when_first_empty: bool = False
    """Interactive form: an empty first answer means the whole instrument was not assessed."""


class Analgesic(StrEnum):
    """Analgesic use, as typed on the command line (the strongest class taken)."""

    NONE = "none"
    """No analgesics."""
    NON_OPIOID = "non-opioid"
    """Paracetamol, NSAIDs, metamizole and the like."""
    WEAK_OPIOID = "weak-opioid"
    """Codeine, tramadol, tapentadol (WHO step 2)."""
    STRONG_OPIOID = "strong-opioid"
    """Morphine, oxycodone, fentanyl, hydromorphone (WHO step 3)."""


ODI_SECTIONS = 10


def score_odi(sections: list[int | None]) -> float:
    """Oswestry Disability Index in %: total / (5 × sections answered) × 100, one decimal.

    ``None`` is an unanswered section; more than one makes the questionnaire unscorable.
    """
    shown = "[" + ", ".join("-" if s is None else str(s) for s in sections) + "]"
    if len(sections) != ODI_SECTIONS:
        msg = (
            f"ODI section scores {shown} refused: {len(sections)} scores given "
            f"(allowed: exactly {ODI_SECTIONS} section scores 0–5)"
        )
        raise ValueError(msg)
    answered = [s for s in sections if s is not None]
    if ODI_SECTIONS - len(answered) > 1:
        msg = (
            f"ODI section scores {shown} refused: {ODI_SECTIONS - len(answered)} sections "
            "unanswered, unscorable (allowed: at most one unanswered)"
        )
        raise ValueError(msg)
    return round(sum(answered) / (5 * len(answered)) * 100, 1)


PAIN = Number(0, 10, decimals=1)
EQ5D_LEVEL = Number(1, 5, whole=True)
EQ5D_HELP = "1 no problems … 5 unable / extreme"


def _eq5d(name: str, code: str, what: str) -> Item:
    """An EQ-5D-5L dimension; ``code`` is the EuroQol abbreviation (MO, SC, UA, PD, AD)."""
    return Item(
        name=f"eq5d_{name}",
        flag=f"--eq5d-{code.lower()}",
        prompt=f"EQ-5D-5L {what} 1-5",
        header=code,
        help=f"EQ-5D-5L {what}: {EQ5D_HELP}",
        kind=EQ5D_LEVEL,
        label=f"EQ-5D-5L {what}",
    )


INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument(
        name="pain",
        short="pain",
        title="Pain (numeric rating scale 0–10)",
        items=(
            Item(
                name="pain",
                flag="--pain",
                prompt="Pain 0-10",
                header="Pain",
                help="Pain NRS 0-10 (one decimal)",
                kind=PAIN,
                outcome=True,
            ),
            Item(
                name="pain_rest",
                flag="--pain-rest",
                prompt="Pain at rest 0-10",
                header="Rest",
                help="Pain at rest 0-10",
                kind=PAIN,
                outcome=True,
                label="Pain at rest",
            ),
            Item(
                name="pain_activity",
                flag="--pain-activity",
                prompt="Pain on activity 0-10",
                header="Activity",
                help="Pain on activity 0-10",
                kind=PAIN,
                outcome=True,
                label="Pain on activity",
            ),
        ),
    ),
    Instrument(
        name="odi",
        short="ODI",
        title="Oswestry Disability Index",
        items=(
            Item(
                name="odi_percent",
                flag="--odi",
                prompt="ODI % or ten section scores 0-5 ('-' unanswered)",
                header="ODI %",
                help="Oswestry Disability Index total % (64 or 64%)",
                kind=Number(0, 100, percent=True),
                outcome=True,
            ),
            Item(
                name="odi_sections",
                flag="--odi-sections",
                prompt="ODI section scores",
                header="ODI sections",
                help="The ten ODI section scores 0-5, comma separated, '-' unanswered",
                kind=Sections(ODI_SECTIONS, 0, 5, max_unanswered=1),
            ),
        ),
        scored=Scored(sections="odi_sections", total="odi_percent", score=score_odi),
    ),
    Instrument(
        name="rmdq",
        short="RMDQ",
        title="Roland-Morris Disability Questionnaire",
        items=(
            Item(
                name="rmdq",
                flag="--rmdq",
                prompt="RMDQ 0-24",
                header="RMDQ",
                help="Roland-Morris 0-24",
                kind=Number(0, 24, whole=True),
                outcome=True,
            ),
        ),
    ),
    Instrument(
        name="analgesic",
        short="analgesic",
        title="Analgesic use",
        items=(
            Item(
                name="analgesic",
                flag="--analgesic",
                prompt="Analgesic",
                header="Analgesic",
                help="none, non-opioid, weak-opioid or strong-opioid",
                kind=Choice(Analgesic),
            ),
        ),
    ),
    Instrument(
        name="eq5d5l",
        short="EQ-5D-5L",
        title="EQ-5D-5L (the profile and the VAS; no country value set is applied)",
        items=(
            _eq5d("mobility", "MO", "mobility"),
            _eq5d("self_care", "SC", "self-care"),
            _eq5d("usual_activities", "UA", "usual activities"),
            _eq5d("pain_discomfort", "PD", "pain/discomfort"),
            _eq5d("anxiety_depression", "AD", "anxiety/depression"),
            Item(
                name="eq5d_vas",
                flag="--eq5d-vas",
                prompt="EQ VAS 0-100",
                header="EQ VAS",
                help="EQ-5D visual analogue scale 0 (worst) to 100 (best health)",
                kind=Number(0, 100, whole=True),
                outcome=True,
            ),
        ),
        skip_rest_when_first_empty=True,
    ),
)

ITEMS: tuple[Item, ...] = tuple(item for inst in INSTRUMENTS for item in inst.items)
BY_NAME: dict[str, Item] = {item.name: item for item in ITEMS}
#: Items whose change from baseline the timeline computes.
OUTCOMES: tuple[str, ...] = tuple(item.name for item in ITEMS if item.outcome)

#: The five EQ-5D-5L dimensions, in the order of the health-state digits.
EQ5D_DIMENSIONS = tuple(
    item.name for inst in INSTRUMENTS if inst.name == "eq5d5l" for item in inst.items[:5]
)


def eq5d_profile(values: dict[str, Any]) -> str | None:
    """The five-digit EQ-5D-5L health state (``11223``), or None when a dimension is missing."""
    digits = [values.get(name) for name in EQ5D_DIMENSIONS]
    if any(d is None for d in digits):
        return None
    return "".join(str(d) for d in digits)
