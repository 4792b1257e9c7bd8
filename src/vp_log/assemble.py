"""All observations of a study → one :class:`~vp_log.record.ProcedureRecord` (pure).

Header fields are settled here (:func:`summarise_header`); dose and timing come from
:func:`vp_log.dose.summarise_dose`, procedure type, levels and cement from
:func:`vp_log.treatment.summarise_treatment`; :meth:`ProcedureRecord.from_summaries` joins
them. Where instances disagree (two Patient IDs in one study) the most frequent value is
shown, the others are kept in ``conflicts`` and the record is flagged for review. Re-running
assembly on the same observations gives the same record.

What assembly needs of the site (plausibility limits, quiet period) comes in an
:class:`AssemblyContext`, made from the settings outside this module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from vp_log.dicom import IMAGE_MODALITIES
from vp_log.dose import summarise_dose
from vp_log.models import Kind, Observation
from vp_log.record import Conflict, Device, HeaderSummary, ProcedureRecord
from vp_log.treatment import summarise_treatment
from vp_log.vocabulary import Plausibility, Vocabulary


@dataclass(frozen=True)
class AssemblyContext:
    """What assembly needs besides the observations: the site's vocabulary and its limits."""

    vocabulary: Vocabulary
    quiet_period_s: float

    @property
    def plausibility(self) -> Plausibility:
        """The site's ``[plausibility]`` limits (vocabulary.toml)."""
        return self.vocabulary.plausibility


@dataclass(frozen=True)
class InstanceSummary:
    """What assembly needs of each stored instance besides its observations."""

    sop_instance_uid: str
    sop_class_uid: str
    series_instance_uid: str
    modality: str
    received_at: datetime


_SINGLE_VALUED: tuple[tuple[str, Kind], ...] = (
    ("accession_number", Kind.ACCESSION_NUMBER),
    ("patient_id", Kind.PATIENT_ID),
    ("patient_name", Kind.PATIENT_NAME),
    ("patient_birth_date", Kind.PATIENT_BIRTH_DATE),
    ("patient_sex", Kind.PATIENT_SEX),
    ("study_date", Kind.STUDY_DATE),
    ("study_description", Kind.STUDY_DESCRIPTION),
    ("institution", Kind.INSTITUTION),
)
_IMAGE_MODALITIES = IMAGE_MODALITIES

# Observation flags that say the file itself was odd; the record carries them (once each)
# so that a reader of the record sees what had to be read leniently or could not be read.
DATA_QUALITY_FLAGS = (
    "invalid-",
    "lenient-",
    "unknown-unit:",
    "missing-unit:",
    "empty-value",
    "multi-valued",
    "unreadable-value:",
    "non-finite-value:",
    "negative-value:",
    "implausible-value:",
)


def data_quality_flags(observations: Sequence[Observation]) -> list[str]:
    flags = (f for o in observations for f in o.flags if f.startswith(DATA_QUALITY_FLAGS))
    return sorted(set(flags))


def source_of(obs: Observation) -> str:
    return obs.provenance.text()


def _settle(name: str, observations: Sequence[Observation], summary: HeaderSummary) -> str | None:
    """The most frequent value (first seen wins a tie); disagreement becomes a conflict."""
    if not observations:
        return None
    counts = Counter(str(o.value) for o in observations)
    order = list(dict.fromkeys(str(o.value) for o in observations))
    best = max(order, key=lambda v: counts[v])
    summary.sources[name] = [source_of(o) for o in observations if str(o.value) == best][:3]
    if len(order) > 1:
        summary.conflicts.append(
            Conflict(
                field=name,
                values=order,
                sources=[[source_of(o) for o in observations if str(o.value) == v] for v in order],
            )
        )
        summary.flags.append(f"conflicting-{name.replace('_', '-')}")
    return best


def _iso_birth_date(text: str | None) -> str | None:
    """PatientBirthDate (DA, ``YYYYMMDD``) as an ISO date; one that is no date (a file writes
    ``UNKNOWN``) is unknown here, its text kept in the observation."""
    if text is None or len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:])).isoformat()
    except ValueError:
        return None


def summarise_header(
    study_instance_uid: str,
    instances: Sequence[InstanceSummary],
    observations: Sequence[Observation],
) -> HeaderSummary:
    by_kind: dict[Kind, list[Observation]] = {}
    for obs in observations:
        by_kind.setdefault(obs.kind, []).append(obs)
    summary = HeaderSummary(
        study_instance_uid=study_instance_uid,
        modalities=sorted({i.modality for i in instances if i.modality}),
        series_count=len({i.series_instance_uid for i in instances}),
        instance_count=len(instances),
    )
    for name, kind in _SINGLE_VALUED:
        setattr(summary, name, _settle(name, by_kind.get(kind, []), summary))
    summary.patient_birth_date = _iso_birth_date(summary.patient_birth_date)

    # Device: the imaging unit (XA/RF images) first; documents (SR, PR) name their author.
    modality_of = {i.sop_instance_uid: i.modality for i in instances}

    def device_value(kind: Kind) -> str | None:
        found = by_kind.get(kind, [])
        preferred = [
            o for o in found if modality_of.get(o.provenance.sop_instance_uid) in _IMAGE_MODALITIES
        ]
        chosen = preferred or found
        if not chosen:
            return None
        counts = Counter(str(o.value) for o in chosen)
        return max(dict.fromkeys(str(o.value) for o in chosen), key=lambda v: counts[v])

    summary.device = Device(
        manufacturer=device_value(Kind.MANUFACTURER),
        model=device_value(Kind.MODEL),
        serial=device_value(Kind.DEVICE_SERIAL),
    )
    summary.operators = list(dict.fromkeys(str(o.value) for o in by_kind.get(Kind.OPERATOR, [])))
    summary.performing_physicians = list(
        dict.fromkeys(str(o.value) for o in by_kind.get(Kind.PERFORMING_PHYSICIAN, []))
    )
    return summary


def assemble_record(
    study_instance_uid: str,
    instances: Sequence[InstanceSummary],
    observations: Sequence[Observation],
    *,
    context: AssemblyContext,
    last_received_at: datetime,
    now: datetime,
    final: bool = False,
) -> ProcedureRecord:
    """The procedure record of one study (without the database id)."""
    return ProcedureRecord.from_summaries(
        summarise_header(study_instance_uid, instances, observations),
        summarise_dose(observations),
        summarise_treatment(observations, limits=context.plausibility),
        notes=data_quality_flags(observations),
        last_received_at=last_received_at,
        now=now,
        quiet_period_s=context.quiet_period_s,
        final=final,
    )
