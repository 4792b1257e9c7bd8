"""Generated dose reports whose totals disagree with their events are flagged, each by name;
consistent ones are not. The reports come from the sample generator; a test edits one total
(or the event list) the way a faulty unit would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from vp_log.dose import summarise_dose
from vp_log.extract.header import extract_header
from vp_log.extract.rdsr import extract_dose_report
from vp_log.record import DoseSummary
from vp_log.samples import write_case
from vp_log.samples.manifest import CaseName, Role

ACCUMULATED = "113702"
EVENT = "113706"


def _rdsr(tmp_path: Path, case: str) -> Dataset:
    manifest = write_case(case, tmp_path / case, seed=5)
    (report,) = [f for f in manifest.files if f.role is Role.DOSE_SR]
    return pydicom.dcmread(report.path)


def _summary(ds: Dataset) -> DoseSummary:
    return summarise_dose([*extract_header(ds), *extract_dose_report(ds)])


def _code(item: Dataset) -> str:
    return str(item.ConceptNameCodeSequence[0].CodeValue)


def _accumulated(ds: Dataset) -> Dataset:
    return next(i for i in ds.ContentSequence if _code(i) == ACCUMULATED)


def _set_total(ds: Dataset, code: str, value: str) -> None:
    item = next(i for i in _accumulated(ds).ContentSequence if _code(i) == code)
    item.MeasuredValueSequence[0].NumericValue = value


def _number(code: str, value: str, unit: str) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "NUM"
    name = Dataset()
    name.CodeValue, name.CodingSchemeDesignator, name.CodeMeaning = code, "DCM", code
    item.ConceptNameCodeSequence = Sequence([name])
    units = Dataset()
    units.CodeValue, units.CodingSchemeDesignator, units.CodeMeaning = unit, "UCUM", unit
    measured = Dataset()
    measured.NumericValue = value
    measured.MeasurementUnitsCodeSequence = Sequence([units])
    item.MeasuredValueSequence = Sequence([measured])
    return item


def _frames(ds: Dataset) -> float:
    """Pulses of the acquisition events, as the generator wrote them."""
    total = 0.0
    for event in (i for i in ds.ContentSequence if _code(i) == EVENT):
        codes = {_code(c): c for c in event.ContentSequence}
        kind = codes["113721"].ConceptCodeSequence[0].CodeValue
        if kind != "P5-06000" and kind != "44491008":
            total += float(codes["113768"].MeasuredValueSequence[0].NumericValue)
    return total


def _drop_last_event(ds: Dataset) -> None:
    items = list(ds.ContentSequence)
    last = max(i for i, item in enumerate(items) if _code(item) == EVENT)
    del items[last]
    ds.ContentSequence = Sequence(items)


@pytest.mark.parametrize("case", [c.value for c in CaseName])
def test_generated_reports_are_consistent(tmp_path: Path, case: str) -> None:
    summary = _summary(_rdsr(tmp_path, case))
    if summary.events:
        assert summary.dose_consistency == []
        assert not [f for f in summary.flags if f.endswith(("-with-events", "-events"))]


def test_a_stated_frame_count_that_matches_is_not_flagged(tmp_path: Path) -> None:
    ds = _rdsr(tmp_path, "vp-two-level")
    _accumulated(ds).ContentSequence.append(_number("113731", f"{_frames(ds):g}", "1"))
    assert _summary(ds).dose_consistency == []


Edit = Callable[[Dataset], None]
FAULTS: list[tuple[str, str, Edit, str]] = [
    # (case, what the unit got wrong, the edit, the flag)
    ("vp-two-level", "fluoro time far below its events (70 s)",
     lambda ds: _set_total(ds, "113730", "70"), "fluoro-time-disagrees-with-events"),
    ("kp-one-level", "0 s of fluoroscopy, every event fluoroscopy",
     lambda ds: _set_total(ds, "113730", "0"), "fluoro-time-zero-with-fluoroscopy-events"),
    ("kp-one-level", "acquisition time without an acquisition event",
     lambda ds: _set_total(ds, "113855", "12"), "acquisition-time-without-acquisition-events"),
    ("vp-two-level", "acquisition time 0 s beside acquisition events",
     lambda ds: _set_total(ds, "113855", "0"), "acquisition-time-zero-with-acquisition-events"),
    ("vp-two-level", "DAP total far above its events",
     lambda ds: _set_total(ds, "113722", "0.01"), "dap-disagrees-with-events"),
    ("vp-two-level", "fluoro DAP total off",
     lambda ds: _set_total(ds, "113726", "0.009"), "dap-fluoro-disagrees-with-events"),
    ("vp-two-level", "Ka,r total off",
     lambda ds: _set_total(ds, "113725", "0.5"), "ka-r-disagrees-with-events"),
    ("vp-two-level", "acquisition Ka,r total off",
     lambda ds: _set_total(ds, "113729", "0.5"), "ka-r-acquisition-disagrees-with-events"),
    ("vp-two-level", "radiographic frames miscounted",
     lambda ds: _accumulated(ds).ContentSequence.append(
         _number("113731", f"{_frames(ds) + 7:g}", "1")),
     "frame-count-disagrees-with-events"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "what", "edit", "flag"), FAULTS, ids=[f[1] for f in FAULTS])
def test_each_disagreement_is_flagged_by_name(
    tmp_path: Path, case: str, what: str, edit: Edit, flag: str
) -> None:
    ds = _rdsr(tmp_path, case)
    edit(ds)
    summary = _summary(ds)
    assert [f.check for f in summary.dose_consistency] == [flag], what
    assert flag in summary.flags
    # the record keeps the report's own totals: nothing is silently replaced
    assert summary.fluoro_time_s is not None


def test_an_event_missing_from_the_list_shows_in_every_total(tmp_path: Path) -> None:
    ds = _rdsr(tmp_path, "kp-one-level")
    _drop_last_event(ds)
    checks = {f.check for f in _summary(ds).dose_consistency}
    assert {
        "fluoro-time-disagrees-with-events",
        "dap-disagrees-with-events",
        "ka-r-disagrees-with-events",
    } <= checks


def test_the_finding_keeps_both_numbers(tmp_path: Path) -> None:
    ds = _rdsr(tmp_path, "vp-two-level")
    _set_total(ds, "113730", "70")
    (finding,) = _summary(ds).dose_consistency
    assert finding.stated == 70 and finding.unit == "s" and finding.plane == "single"
    assert finding.from_events is not None and finding.from_events > 100
    assert finding.report_uid == str(ds.SOPInstanceUID)
