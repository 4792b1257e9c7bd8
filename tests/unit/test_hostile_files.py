"""Hostile files: bounded work, isolation per file and per extractor, poison files, odd UIDs.

Real files (the fuzz corpus, generated sample cases), a real SQLite database, the real
worker drain; one test replaces an extractor with one that raises, to prove isolation.
"""

from __future__ import annotations

import copy
import logging
import random
import resource
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.uid import ImplicitVRLittleEndian

import vp_log.extract as extract_module
from vp_log.config import load_settings
from vp_log.db import Database
from vp_log.db import repository as repo
from vp_log.limits import LimitExceeded, Limits, check_dataset, time_limit
from vp_log.pipeline import Outcome, Pipeline, read_header, storage_key
from vp_log.samples import write_case, write_xa_instances
from vp_log.spool import Spool, read_reason, uid_hash
from vp_log.text import SafeFormatter, printable
from vp_log.worker import drain

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fuzz_corpus as fc


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> list[fc._Base]:
    return fc._bases(tmp_path_factory.mktemp("bases"))


def _rdsr(bases: list[fc._Base]) -> fc._Base:
    return next(b for b in bases if b.name.endswith("rdsr.dcm"))


def _pipeline(tmp_path: Path, **overrides: object) -> Pipeline:
    settings = load_settings(data_dir=tmp_path / "data", **overrides)
    return Pipeline(settings, Database(settings.db_url), Spool(settings.data_dir))


def _spool(pipeline: Pipeline, data: bytes, n: int, uid: str = "x") -> Path:
    name = f"{datetime.now(UTC).timestamp() * 1e9:020.0f}-{n:06d}-{uid_hash(uid)}.dcm"
    path = pipeline.spool.ready / name
    path.write_bytes(data)
    return path


# --- limits ------------------------------------------------------------------------------


def test_deep_sr_of_the_campaign_is_refused_naming_the_depth_limit(
    bases: list[fc._Base], tmp_path: Path
) -> None:
    ds = fc._sr_base(_rdsr(bases), random.Random(1))
    data = fc._sr_with_content(ds, fc._ITEM + fc._nested(55) + fc._ITEM_END)
    assert 6_000 < len(data) < 12_000  # the size of the campaign's 6.8 KB file
    path = tmp_path / "deep.dcm"
    path.write_bytes(data)
    with pytest.raises(LimitExceeded, match="max_sequence_depth") as info:
        check_dataset(read_header(path), Limits())
    assert info.value.limit == "max_sequence_depth"


def test_limits_hold_for_implicit_vr_files(bases: list[fc._Base], tmp_path: Path) -> None:
    """Implicit VR (what a PACS usually sends) carries no VR in the file: the dictionary's."""
    (src,) = write_xa_instances(tmp_path / "src", 1, rows=8, cols=8, seed=9)
    ds = pydicom.dcmread(src)
    ds.ImageComments = "T12 3 ml " * 2_000
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(tmp_path / "implicit.dcm")
    with pytest.raises(LimitExceeded, match="max_text_bytes"):
        check_dataset(read_header(tmp_path / "implicit.dcm"), Limits(max_text_bytes=4096))
    sr = fc._sr_base(_rdsr(bases), random.Random(5))
    data = fc._sr_with_content(sr, fc._ITEM + fc._nested(40) + fc._ITEM_END)
    (tmp_path / "deep.dcm").write_bytes(data)
    deep = pydicom.dcmread(tmp_path / "deep.dcm")
    deep.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    deep.save_as(tmp_path / "deep-implicit.dcm")
    with pytest.raises(LimitExceeded, match="max_sequence_depth"):
        check_dataset(read_header(tmp_path / "deep-implicit.dcm"), Limits())


def test_wide_sr_is_refused_naming_the_item_limit_quickly(
    bases: list[fc._Base], tmp_path: Path
) -> None:
    ds = fc._sr_base(_rdsr(bases), random.Random(2))
    child = fc._ITEM + fc._nested(3, fc._VOLUME_NUM) + fc._ITEM_END
    path = tmp_path / "wide.dcm"
    path.write_bytes(fc._sr_with_content(ds, child * 2_000))
    with pytest.raises(LimitExceeded, match="max_sequence_items"):
        check_dataset(read_header(path), Limits(max_sequence_items=5_000))
    check_dataset(read_header(path), Limits())  # 20 000 items: within the default


def test_huge_text_is_not_read_and_refused_by_its_length(tmp_path: Path) -> None:
    (src,) = write_xa_instances(tmp_path / "src", 1, rows=8, cols=8, seed=3)
    ds = pydicom.dcmread(src)
    ds.ImageComments = "L1 3 ml " * 500_000  # 4 MB
    ds.save_as(tmp_path / "huge.dcm")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    header = read_header(tmp_path / "huge.dcm", Limits())
    assert header.get_item("ImageComments", keep_deferred=True).value is None  # not read
    with pytest.raises(LimitExceeded, match=r"max_text_bytes.*\(0020,4000\)"):
        check_dataset(header, Limits())
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KB


def test_time_limit_interrupts_and_names_the_limit() -> None:
    with pytest.raises(LimitExceeded, match="max_seconds_per_file") as info, time_limit(0.2):
        while True:
            sum(range(1000))
    assert info.value.limit == "max_seconds_per_file"


def test_limit_exceeded_survives_pydicom_rewrapping_its_message() -> None:
    original = LimitExceeded("max_seconds_per_file", "the file took more than 1 s")
    rewrapped = type(original)(f"With tag (0040,A730) got exception: {original}")
    assert rewrapped.limit == "max_seconds_per_file"


def test_deep_sr_stays_within_a_stated_memory_bound_in_the_pipeline(
    bases: list[fc._Base], tmp_path: Path
) -> None:
    """The 6.8 KB nested SR and 20 wide SRs: rejected, the process grows < 150 MB."""
    pipeline = _pipeline(tmp_path, max_seconds_per_file=5)
    rng = random.Random(4)
    paths = []
    for n, depth in enumerate((55, 300, 2_000)):
        ds = fc._sr_base(_rdsr(bases), rng)
        content = fc._ITEM + fc._nested(depth) + fc._ITEM_END
        paths.append(_spool(pipeline, fc._sr_with_content(ds, content), n))
    child = fc._ITEM + fc._nested(4, fc._VOLUME_NUM) + fc._ITEM_END
    for n in range(3, 23):
        ds = fc._sr_base(_rdsr(bases), rng)
        paths.append(_spool(pipeline, fc._sr_with_content(ds, child * 12_000), n))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results = pipeline.process(paths, received_from="dicom", from_spool=True)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert [r.outcome for r in results] == [Outcome.REJECTED] * len(paths)
    assert all("limit max_sequence_" in (r.reason or "") for r in results)
    assert grown_mb < 150, grown_mb
    assert not pipeline.spool.pending()
    reasons = [read_reason(p) for p in pipeline.spool.quarantine.glob("*.reason.txt")]
    assert len(reasons) == len(paths)
    assert {r.kind for r in reasons} == {"limit"}
    assert {r.limit for r in reasons} == {"max_sequence_depth", "max_sequence_items"}
    pipeline.database.dispose()


# --- isolation -----------------------------------------------------------------------------


def test_small_fuzz_corpus_every_file_accounted_for(tmp_path: Path) -> None:
    files = fc.write_fuzz_corpus(tmp_path / "corpus", 60, seed=7)
    pipeline = _pipeline(tmp_path, max_seconds_per_file=3)
    results = pipeline.process([f.path for f in files], received_from="import", from_spool=False)
    pipeline.assemble_stale(final=True)
    assert [r.path for r in results] != []
    assert sorted(r.path for r in results) == sorted(f.path for f in files)
    assert all(r.reason for r in results if r.outcome is Outcome.REJECTED)
    assert all("\n" not in (r.reason or "") for r in results)
    pipeline.database.dispose()


def test_failing_extractor_keeps_the_instance_and_the_other_observations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(ds: Dataset) -> list[object]:
        raise AttributeError("'str' object has no attribute 'is_private'")

    monkeypatch.setattr(extract_module, "extract_dose_report", broken)
    manifest = write_case("vp-two-level", tmp_path / "case", seed=0, size="small")
    pipeline = _pipeline(tmp_path)
    results = pipeline.process(manifest.paths(), received_from="import", from_spool=False)
    pipeline.assemble_stale(final=True)
    assert {r.outcome for r in results} == {Outcome.NEW}
    assert all("invalid-extraction:rdsr" in r.flags for r in results)
    with pipeline.database.session() as session:
        (record,) = repo.list_procedures(session=session, include_all=True)
        assert "invalid-extraction:rdsr" in record.record["flags"]
        assert record.record["procedure_type"] == "vertebroplasty"  # the rest was read
        observations = repo.study_observations(
            session=session, study_instance_uid=manifest.study_instance_uid
        )
    assert any(o.kind == "cement_volume_ml" for o in observations)
    issues = [o for o in observations if o.kind == "instance_issue"]
    assert issues and issues[0].value["extractor"] == "rdsr"  # type: ignore[index,call-overload]
    assert "is_private" in str(issues[0].value)
    pipeline.database.dispose()


def test_poison_file_is_set_aside_after_max_attempts_and_the_rest_drain(tmp_path: Path) -> None:
    pipeline = _pipeline(tmp_path, max_attempts=2)
    sources = write_xa_instances(tmp_path / "src", 5, rows=8, cols=8, seed=5)
    paths = [_spool(pipeline, p.read_bytes(), n) for n, p in enumerate(sources)]
    poison = paths[2]
    # A worker died twice while this file was in flight (one batch, then on its own).
    pipeline.spool.begin_batch(paths)
    assert pipeline.spool.recover_attempts() == {p.name: 1 for p in paths}
    pipeline.spool.begin_batch([poison])
    drain(pipeline)
    assert not pipeline.spool.pending()
    (reason_file,) = pipeline.spool.quarantine.glob("*.reason.txt")
    reason = read_reason(reason_file)
    assert (reason.kind, reason.limit, reason.attempts) == ("poison", "max_attempts", 2)
    assert reason.spool_name == poison.name
    assert "died 2 times" in reason.reason
    with pipeline.database.session() as session:
        assert len(repo.all_instances(session=session)) == 4
    assert pipeline.spool.attempts() == {}
    pipeline.database.dispose()


def test_unreadable_spool_file_reason_has_traceback_and_uid(
    bases: list[fc._Base], tmp_path: Path
) -> None:
    pipeline = _pipeline(tmp_path)
    rng = random.Random(11)
    ds = fc._fresh(bases[0], rng)
    data = bytearray(fc._encode(ds))
    start = fc._data_offset(bytes(data))
    data[start + 4 : start + 6] = b"QQ"  # an unknown VR on the first element
    _spool(pipeline, bytes(data), 1, uid=fc._meta_uid(ds))
    drain(pipeline)
    (reason_file,) = pipeline.spool.quarantine.glob("*.reason.txt")
    reason = read_reason(reason_file)
    assert reason.kind == "unreadable"
    assert reason.reason.splitlines() == [reason.reason]
    pipeline.database.dispose()


# --- UIDs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uid", "flag"),
    [
        ("../../etc/passwd", "invalid-uid:sop-instance-uid"),
        ("1.2.abc.4", "invalid-uid:sop-instance-uid"),
        ("1." + "2" * 70, "invalid-uid:sop-instance-uid"),
        ("1." + "3" * 200, "invalid-uid:sop-instance-uid"),
        (["1.2.3.4", "1.2.3.5"], "invalid-uid:sop-instance-uid"),
    ],
)
def test_invalid_uid_is_recorded_with_a_flag_never_as_a_file_name(
    tmp_path: Path, uid: str | list[str], flag: str
) -> None:
    (src,) = write_xa_instances(tmp_path / "src", 1, rows=8, cols=8, seed=6)
    ds = pydicom.dcmread(src)
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3"
    ds.save_as(tmp_path / "odd.dcm")
    pipeline = _pipeline(tmp_path)
    (result,) = pipeline.process([tmp_path / "odd.dcm"], received_from="x", from_spool=False)
    assert result.outcome is Outcome.NEW
    assert flag in result.flags
    text = "\\".join(uid) if isinstance(uid, list) else uid
    with pipeline.database.session() as session:
        (instance,) = repo.all_instances(session=session)
    assert instance.sop_instance_uid == storage_key(text)
    assert len(instance.sop_instance_uid) <= 128
    archived = list(pipeline.spool.archive.rglob("*.dcm"))
    assert len(archived) == 1 and archived[0].stem == uid_hash(storage_key(text))
    assert not list(tmp_path.rglob("passwd"))
    pipeline.database.dispose()


@pytest.mark.parametrize("order", ["original-first", "adjusted-first"])
def test_same_sop_uid_other_study_both_kept_second_flagged(tmp_path: Path, order: str) -> None:
    manifest = write_case("kp-one-level", tmp_path / "case", seed=0, size="small")
    rdsr = next(f.path for f in manifest.files if f.role == "rdsr")
    adjusted = pydicom.dcmread(rdsr)
    adjusted.StudyInstanceUID = adjusted.StudyInstanceUID + ".9"
    adjusted.save_as(tmp_path / "adjusted.dcm")
    files = [rdsr, tmp_path / "adjusted.dcm"]
    if order == "adjusted-first":
        files.reverse()
    pipeline = _pipeline(tmp_path)
    first = pipeline.process(files[:1], received_from="import", from_spool=False)
    second = pipeline.process(files[1:], received_from="import", from_spool=False)
    again = pipeline.process(files, received_from="import", from_spool=False)
    pipeline.assemble_stale(final=True)
    assert [r.outcome for r in first + second] == [Outcome.NEW, Outcome.NEW]
    assert "invalid-uid:sop-instance-uid-reused" not in first[0].flags
    assert "invalid-uid:sop-instance-uid-reused" in second[0].flags
    assert [r.outcome for r in again] == [Outcome.DUPLICATE, Outcome.DUPLICATE]
    with pipeline.database.session() as session:
        records = repo.list_procedures(session=session, include_all=True)
        assert len(records) == 2
        flagged = [r for r in records if "invalid-uid:sop-instance-uid-reused" in r.record["flags"]]
        assert [r.study_instance_uid for r in flagged] == [second[0].study_instance_uid]
    pipeline.database.dispose()


def test_same_sop_uid_same_study_is_a_duplicate(tmp_path: Path) -> None:
    (src,) = write_xa_instances(tmp_path / "src", 1, rows=8, cols=8, seed=8)
    copied = tmp_path / "copy.dcm"
    shutil.copyfile(src, copied)
    pipeline = _pipeline(tmp_path)
    results = pipeline.process([src, copied], received_from="import", from_spool=False)
    assert [r.outcome for r in results] == [Outcome.NEW, Outcome.DUPLICATE]
    pipeline.database.dispose()


# --- text ----------------------------------------------------------------------------------


def test_printable_escapes_control_characters() -> None:
    assert printable("a\nb\x1b[31mc\x00\u202e") == "a\\nb\\e[31mc\\x00\\u202e"
    assert printable("Müller^Jürgen") == "Müller^Jürgen"


def test_log_line_cannot_be_forged() -> None:
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "study %s", ("1.2\n2026 INFO forged",), None
    )
    line = SafeFormatter("%(levelname)s %(message)s").format(record)
    assert line.splitlines() == ["WARNING study 1.2\\n2026 INFO forged"]
    try:
        raise ValueError("bad\nFORGED LINE")
    except ValueError:
        record.exc_info = sys.exc_info()
    lines = SafeFormatter("%(message)s").format(copy.copy(record)).splitlines()
    assert all(line.startswith("  | ") for line in lines[1:])


def test_a_pydicom_warning_is_one_log_line_not_three() -> None:
    """pydicom logs an odd value and warns about it; the warning printed two more lines."""
    import subprocess

    code = (
        "import sys\n"
        "from vp_log.text import configure_logging\n"
        "configure_logging('WARNING', stream=sys.stderr)\n"
        "from pydicom.dataset import Dataset\n"
        "Dataset().SOPInstanceUID = '1.2.abc\\nFAKE LOG LINE'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    (line,) = done.stderr.splitlines()
    assert "WARNING pydicom: Invalid value for VR UI" in line
