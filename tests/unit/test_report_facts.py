"""The report adapter reads a stored record field by field (no pydantic per record, issue 9):
its facts must be those of the validated :class:`~vp_log.record.ProcedureRecord`.

The records are the public JSON of every sample and generated case (``record_golden.json``)
and variants of them that touch each field the adapter reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vp_log.db.report_queries import REPORT_FIELDS
from vp_log.record import ProcedureRecord
from vp_log.report.cohort import (
    ProcedureFacts,
    TreatedLevel,
    procedure_facts,
    spinal_level,
)

GOLDEN = Path(__file__).parent.parent / "data" / "record_golden.json"


def _validated_facts(pid: int, status: str, record: ProcedureRecord) -> dict[str, Any]:
    """The facts as the adapter made them before it stopped validating (its old code)."""
    cement: dict[str, float | None] = {}
    for item in record.levels:
        if item.level not in cement:
            cement[item.level] = item.cement_ml
        elif item.cement_ml is not None:
            cement[item.level] = (cement[item.level] or 0.0) + item.cement_ml

    def order(name: str) -> tuple[int, str]:
        level = spinal_level(name)
        return (level.ordinal if level is not None else 10_000, name)

    def first(values: list[str]) -> str | None:
        return next((v.strip() for v in values if v and v.strip()), None)

    device = record.device
    name = " ".join(
        str(v).strip() for v in (device.manufacturer, device.model) if v and str(v).strip()
    )
    stated = record.patient.age if record.patient is not None else None
    return {
        "id": pid,
        "study_instance_uid": record.study_instance_uid,
        "patient_id": record.patient_id,
        "patient_name": record.patient_name,
        "patient_sex": record.patient_sex,
        "stated_age_years": stated.value if stated is not None and stated.unit == "a" else None,
        "accession_number": record.accession_number,
        "procedure_type": str(record.procedure_type),
        "status": "needs_review" if record.needs_review else status,
        "levels": tuple(TreatedLevel(n, cement[n]) for n in sorted(cement, key=order)),
        "operator": first(record.performing_physicians) or first(record.operators),
        "device": name or None,
        "fluoro_time_s": record.fluoro_time_s,
        "dap_gy_cm2": record.dap_gy_cm2,
        "ka_r_mgy": record.ka_r_mgy,
        "total_cement_ml": record.total_cement_ml,
        "flags": tuple(record.flags),
    }


def _stored(record: ProcedureRecord) -> dict[str, Any]:
    """What the report query hands over: the REPORT_FIELDS that are set, lean levels."""
    dumped = record.model_dump(mode="json")
    fields = {k: dumped[k] for k in REPORT_FIELDS if dumped.get(k) is not None}
    fields["levels"] = [
        {"level": lv["level"], "cement_ml": lv["cement_ml"]} for lv in dumped["levels"]
    ]
    return fields


def _records() -> list[ProcedureRecord]:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    records = [ProcedureRecord.model_validate(r) for r in golden.values()]
    base = next(r for r in records if len(r.levels) > 1).model_dump(mode="json")
    age = {"value": 88.0, "unit": "a", "path": "PatientAge", "raw": "088Y"}
    variants = [
        {**base, "needs_review": True, "performing_physicians": ["  ", " Rossi^M "]},
        {**base, "performing_physicians": [], "operators": ["", "Novak^J"]},
        {**base, "device": {**base["device"], "manufacturer": None}},
        {**base, "patient_birth_date": "1932-02-29", "patient_sex": "F"},
        {**base, "patient": {"age": age}},
        {**base, "patient": {"age": {**age, "value": 7.0, "unit": "mo", "raw": "007M"}}},
        {**base, "levels": [{**lv, "cement_ml": None} for lv in base["levels"]]},
        {**base, "levels": [*base["levels"], {**base["levels"][0], "cement_ml": 1.25}]},
    ]
    return records + [ProcedureRecord.model_validate(v) for v in variants]


@pytest.mark.parametrize("index", range(len(_records())))
def test_facts_read_field_by_field_are_the_validated_records(index: int) -> None:
    record = _records()[index]
    got = procedure_facts(7, "complete", _stored(record))
    expected = _validated_facts(7, "complete", record)
    assert isinstance(got, ProcedureFacts)
    assert {k: getattr(got, k) for k in expected} == expected
    assert got.indication is None and got.trial_arm is None


def test_the_golden_records_cover_what_the_adapter_reads() -> None:
    facts = [procedure_facts(1, "complete", _stored(r)) for r in _records()]
    assert any(len(f.levels) > 1 for f in facts)
    assert any(lv.cement_ml is not None for f in facts for lv in f.levels)
    assert any(f.device for f in facts) and any(f.operator for f in facts)
    assert any(f.dap_gy_cm2 is not None for f in facts) and any(f.flags for f in facts)
    assert {f.status for f in facts} == {"complete", "needs_review"}
