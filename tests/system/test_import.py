"""`vp-log import`: folders, DICOMDIRs, rejects with reasons, two listeners sharing PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydicom
from pydicom.fileset import FileSet

from conftest import ListenerFactory, base_env, run_cli, storescu, wait_for
from vp_log.samples import write_case, write_xa_instances


def test_import_dicomdir_and_rejects(tmp_path: Path) -> None:
    manifest = write_case("kp-one-level", tmp_path / "case", seed=2)
    fileset = FileSet()
    for path in manifest.paths():
        fileset.add(pydicom.dcmread(path))
    media = tmp_path / "media"
    fileset.write(media)
    env = base_env(tmp_path / "data")
    out = json.loads(run_cli("import", str(media / "DICOMDIR"), "--json", env=env).stdout)
    assert (out["new"], out["duplicate"], out["rejected"]) == (manifest.instance_count, 0, [])

    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("not DICOM")
    ds = pydicom.dcmread(manifest.paths()[0])
    del ds.StudyInstanceUID
    ds.SOPInstanceUID = "1.2.3.4.999"
    ds.save_as(junk / "no-study.dcm", enforce_file_format=True)
    out = json.loads(run_cli("import", str(junk), str(media), "--json", env=env).stdout)
    reasons = {Path(r["path"]).name: r["reason"] for r in out["rejected"]}
    assert "not a DICOM file" in reasons["notes.txt"]
    assert "force" not in reasons["notes.txt"]  # pydicom's advice to programmers, not users
    assert "Study Instance UID" in reasons["no-study.dcm"]
    assert out["duplicate"] == manifest.instance_count  # the DICOMDIR walked as a folder

    missing = run_cli("import", str(tmp_path / "nowhere"), env=env, check=False)
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr


def test_two_listeners_share_one_postgresql_store(
    listener_factory: ListenerFactory, pg_url: str, tmp_path: Path
) -> None:
    manifest = write_case("vp-two-level", tmp_path / "case", seed=3)
    first = listener_factory(pg_url)
    second = listener_factory(pg_url)
    paths = manifest.paths()
    # Both receive the whole study (as two PACS routes might): stored once, one record.
    assert storescu(first.port, paths).returncode == 0
    assert storescu(second.port, paths[::-1]).returncode == 0

    def records() -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = json.loads(
            run_cli("procedures", "list", "--all", "--json", env=first.env).stdout
        )
        return data

    assert wait_for(
        lambda: (
            [(r["instance_count"], r["status"]) for r in records()]
            == [(manifest.instance_count, "complete")]
        ),
        timeout=60,
    )
    (record,) = records()
    assert record["procedure_type"] == "vertebroplasty"
    assert record["total_cement_ml"] == manifest.total_cement_ml


def test_values_postgresql_would_refuse_do_not_block_anything(tmp_path: Path, pg_url: str) -> None:
    """Over-long Modality and Patient ID, a NUL in a text value: stored, recorded, nothing stuck."""
    files = write_xa_instances(tmp_path / "src", 3, rows=16, cols=16, seed=12)
    odd = pydicom.dcmread(files[1])
    odd.Modality = "XA-FLUORO-VERY-LONG"  # 19 characters, the column holds 16
    odd.PatientID = "P" * 200
    odd.ImageComments = "L1 4 ml\x00garbage"
    odd.save_as(files[1], enforce_file_format=True)
    env = base_env(tmp_path / "data", pg_url)
    out = json.loads(run_cli("import", str(tmp_path / "src"), "--json", env=env).stdout)
    assert (out["new"], out["rejected"]) == (3, [])
    (record,) = json.loads(run_cli("procedures", "list", "--all", "--json", env=env).stdout)
    assert record["instance_count"] == 3 and record["status"] != "receiving"
    patient_conflict = next(c for c in record["conflicts"] if c["field"] == "patient_id")
    assert "P" * 200 in patient_conflict["values"]  # kept whole in the record
