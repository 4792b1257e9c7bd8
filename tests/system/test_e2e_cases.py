"""Issue 4 end to end: each generated case, sent with storescu, becomes the record it describes."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import SAMPLES, ListenerFactory, base_env, run_cli, storescu, wait_for
from vp_log.samples import CaseManifest, write_all_cases


def records(env: dict[str, str], *extra: str) -> list[dict[str, Any]]:
    out = run_cli("procedures", "list", "--json", *extra, env=env)
    data: list[dict[str, Any]] = json.loads(out.stdout)
    return data


def test_generated_cases_over_dicom(listener_factory: ListenerFactory, tmp_path: Path) -> None:
    manifests: list[CaseManifest] = write_all_cases(tmp_path / "cases", seed=11, size="small")
    lst = listener_factory()
    for manifest in manifests:  # one association per study, as a PACS forwards them
        sent = storescu(lst.port, manifest.paths())
        assert sent.returncode == 0, sent.stderr

    def all_settled() -> bool:
        found = records(lst.env, "--all")
        return len(found) == len(manifests) and all(r["status"] != "receiving" for r in found)

    assert wait_for(all_settled, timeout=60)
    by_study = {r["study_instance_uid"]: r for r in records(lst.env, "--all")}
    for manifest in manifests:
        record = by_study[manifest.study_instance_uid]
        assert record["procedure_type"] == manifest.procedure_type, manifest.case
        assert record["status"] == "complete", (manifest.case, record["flags"])
        assert record["instance_count"] == manifest.instance_count
        assert record["accession_number"] == manifest.accession_number
        got = [
            (lv["level"], lv["cement_ml"], lv["approach"], lv["side"]) for lv in record["levels"]
        ]
        want = [(lv.level, lv.cement_ml, lv.approach, lv.side) for lv in manifest.levels]
        assert got == want, manifest.case
        assert record["total_cement_ml"] == manifest.total_cement_ml
        for field in ("fluoro_time_s", "dap_gy_cm2", "ka_r_mgy", "irradiation_events"):
            assert record[field] == pytest.approx(getattr(manifest, field)), (manifest.case, field)
        assert datetime.fromisoformat(str(record["start"])) == manifest.start
        assert datetime.fromisoformat(str(record["end"])) == manifest.end
        for level in record["levels"]:
            assert level["sources"], "every level names where it came from"

    # The non-augmentation study is kept, but listed only with --all.
    listed = {r["study_instance_uid"] for r in records(lst.env)}
    other = next(m for m in manifests if m.case == "non-augmentation")
    assert other.study_instance_uid not in listed
    assert len(listed) == len(manifests) - 1
    # A re-send of a whole case changes nothing.
    before = records(lst.env, "--all")
    assert storescu(lst.port, manifests[0].paths()).returncode == 0
    assert wait_for(lambda: not any((lst.data_dir / "spool").glob("*.dcm")))
    after = records(lst.env, "--all")
    assert [r["instance_count"] for r in after] == [r["instance_count"] for r in before]


def test_bare_level_in_image_comments_is_not_a_treatment(tmp_path: Path) -> None:
    """dbdicom/0015.DCM's Image Comments read `L1`: a mention, not a vertebroplasty."""
    env = base_env(tmp_path / "data")
    run_cli("import", str(SAMPLES / "dbdicom" / "0015.DCM"), env=env)
    assert records(env) == []
    (record,) = records(env, "--all")
    assert record["procedure_type"] == "unclassified"
    assert record["levels"] == []
    assert record["mentioned_levels"] == ["L1"]
    assert record["total_cement_ml"] is None


def test_import_twice_and_reextract_give_the_same_records(tmp_path: Path) -> None:
    write_all_cases(tmp_path / "cases", seed=5, size="small")
    env = base_env(tmp_path / "data")
    run_cli("import", str(tmp_path / "cases"), str(SAMPLES), env=env)
    first = records(env, "--all")
    second_import = json.loads(
        run_cli("import", str(tmp_path / "cases"), str(SAMPLES), "--json", env=env).stdout
    )
    assert second_import["new"] == 0 and second_import["duplicate"] > 0
    assert records(env, "--all") == first
    run_cli("reextract", env=env)
    once = records(env, "--all")
    run_cli("reextract", env=env)
    assert records(env, "--all") == once

    def strip(rs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "updated_at"} for r in rs]

    assert strip(once) == strip(first)
