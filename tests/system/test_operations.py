"""Operating it: status during a send, quarantine retry, backup/restore, config, permissions,
and the conformance statement against the running listener's presentation contexts."""

from __future__ import annotations

import json
import re
import sqlite3
import stat
import threading
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pydicom
from pynetdicom import AE, build_context

from conftest import REPO, base_env, run_cli, storescu, wait_for
from vp_log.cli.status import collect_status
from vp_log.config import Settings
from vp_log.quarantine import list_quarantined
from vp_log.samples import write_case, write_xa_instances


def status(env: dict[str, str]) -> dict[str, Any]:
    """``vp-log status --json`` as a process (seconds each on a busy machine)."""
    data: dict[str, Any] = json.loads(run_cli("status", "--json", env=env).stdout)
    return data


def quick_status(data_dir: Path) -> dict[str, Any]:
    """The same data, gathered in this process: for polling."""
    return collect_status(Settings(data_dir=data_dir, database_url=""))


def stored_instances(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "vp_log.db") as conn:
        return int(conn.execute("SELECT count(*) FROM instances").fetchone()[0])


def records(env: dict[str, str]) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(
        run_cli("procedures", "list", "--all", "--json", env=env).stdout
    )
    return data


def test_status_during_a_send_and_after(listener_factory: object, tmp_path: Path) -> None:
    files = write_xa_instances(tmp_path / "src", 400, rows=16, cols=16, seed=3)
    lst = listener_factory(VP_LOG_QUIET_PERIOD_S="300")  # type: ignore[operator]
    before = status(lst.env)
    assert before["listener"]["running"] is True
    assert before["listener"]["port"] == lst.port and before["listener"]["ae_title"] == "VPLOG"
    assert (
        before["database"]["url"].startswith("sqlite:///") and before["database"]["error"] is None
    )

    results: list[Any] = []
    sender = threading.Thread(target=lambda: results.append(storescu(lst.port, files)))
    sender.start()
    seen_active: list[dict[str, Any]] = []

    def active_seen() -> bool:
        now = quick_status(lst.data_dir)["listener"]["active_associations"]
        seen_active.extend(a for a in now if a["stored"] > 0)
        return bool(seen_active) or not sender.is_alive()

    assert wait_for(active_seen, timeout=120, interval=0.2)
    sender.join(timeout=600)
    assert results and results[0].returncode == 0, results
    assert seen_active, "the send ended before status saw it running"
    running = seen_active[0]
    assert running["calling_ae"] == "STORESCU" and running["called_ae"] == "VPLOG"
    assert running["outcome"] == "active" and 0 < running["stored"] <= 400

    def after() -> dict[str, Any]:
        return quick_status(lst.data_dir)

    assert wait_for(lambda: after()["listener"]["recent_associations"], timeout=10)
    done = after()
    last = done["listener"]["recent_associations"][0]
    assert (last["calling_ae"], last["outcome"], last["stored"], last["failed"]) == (
        "STORESCU",
        "released",
        400,
        0,
    )
    assert wait_for(lambda: after()["spool"]["waiting"] == 0, timeout=120)
    # the record follows (assembly every 2 s); the quiet period (300 s) is not over yet
    assert wait_for(lambda: [s["instances"] for s in after()["receiving"]] == [400], timeout=30)
    done = status(lst.env)
    assert [s["instances"] for s in done["receiving"]] == [400]
    assert done["database"]["rows"]["instances"] == 400
    assert done["quarantine"] == {"count": 0, "newest": []}

    text = run_cli("status", env={**lst.env, "COLUMNS": "80"}).stdout
    assert "listener:   up" in text and "STORESCU" in text and "400" in text

    # Patient data: the folder and everything in it for the listener's user alone.
    for path in [lst.data_dir, *lst.data_dir.rglob("*")]:
        try:
            info = path.stat()
        except FileNotFoundError:  # the status file's temporary, replaced meanwhile
            continue
        mode = stat.S_IMODE(info.st_mode)
        assert mode == (0o700 if stat.S_ISDIR(info.st_mode) else 0o600), f"{path}: {mode:o}"

    assert lst.stop() == 0
    stopped = status(lst.env)
    assert stopped["listener"]["running"] is False
    assert stopped["listener"]["active_associations"] == []
    assert "not running" in run_cli("status", env=lst.env).stdout


def test_quarantine_retry_after_the_cause_is_fixed(
    listener_factory: object, tmp_path: Path
) -> None:
    files = write_xa_instances(tmp_path / "src", 2, rows=16, cols=16, seed=4)
    broken = pydicom.dcmread(files[1])
    study_uid = broken.StudyInstanceUID
    del broken.StudyInstanceUID
    broken.save_as(files[1], enforce_file_format=True)
    lst = listener_factory()  # type: ignore[operator]
    assert storescu(lst.port, files).returncode == 0  # acknowledged: it is on our disk

    def quarantined() -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = json.loads(
            run_cli("quarantine", "list", "--json", env=lst.env).stdout
        )
        return data

    assert wait_for(lambda: len(list_quarantined(lst.data_dir / "quarantine")) == 1, timeout=60)
    (entry,) = quarantined()
    assert "no Study Instance UID" in entry["reason"]
    shown = status(lst.env)["quarantine"]
    assert shown["count"] == 1 and "no Study Instance UID" in shown["newest"][0]["reason"]
    assert "no Study Instance UID" in run_cli("quarantine", "list", env=lst.env).stdout

    refused = run_cli("quarantine", "retry", env=lst.env, check=False)
    assert refused.returncode == 2 and "give the file names to retry, or --all" in refused.stderr
    missing = run_cli("quarantine", "retry", "nope.dcm", env=lst.env, check=False)
    assert missing.returncode == 2 and "no quarantined file nope.dcm" in missing.stderr

    fixed = pydicom.dcmread(entry["path"])  # the cause, fixed by the administrator
    fixed.StudyInstanceUID = study_uid
    fixed.save_as(entry["path"], enforce_file_format=True)
    out = run_cli("quarantine", "retry", entry["file"], env=lst.env).stdout
    assert "1 files moved back to the spool" in out and "running listener" in out
    assert wait_for(lambda: stored_instances(lst.data_dir) == 2, timeout=60)
    assert wait_for(lambda: [r["instance_count"] for r in records(lst.env)] == [2], timeout=30)
    assert quarantined() == []
    assert status(lst.env)["quarantine"]["count"] == 0


def test_backup_while_listening_then_restore_into_a_fresh_folder(
    listener_factory: object, tmp_path: Path
) -> None:
    manifest = write_case("vp-two-level", tmp_path / "case", seed=31)
    lst = listener_factory()  # type: ignore[operator]
    assert storescu(lst.port, manifest.paths()).returncode == 0
    assert wait_for(lambda: [r["status"] for r in records(lst.env)] == ["complete"], timeout=60)
    day = (date.fromisoformat(manifest.study_date) + timedelta(days=7)).isoformat()
    run_cli(
        "followup",
        "add",
        manifest.accession_number,
        "--date",
        day,
        "--pain",
        "3",
        "--odi",
        "30",
        "--rmdq",
        "9",
        "--analgesic",
        "none",
        "--by",
        "nurse",
        "--yes",
        env=lst.env,
    )
    before = records(lst.env)
    followups_before = run_cli(
        "followup", "list", manifest.accession_number, "--json", env=lst.env
    ).stdout

    inside = run_cli("backup", str(lst.data_dir / "bk"), env=lst.env, check=False)
    assert inside.returncode == 2 and "inside the data folder" in inside.stderr
    dest = tmp_path / "backup"
    summary = json.loads(run_cli("backup", str(dest), "--json", env=lst.env).stdout)
    assert summary["database"] == "sqlite" and summary["rows"]["procedures"] == 1
    assert summary["files"]["archive"] == len(manifest.paths())
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    again = run_cli("backup", str(dest), env=lst.env, check=False)
    assert again.returncode == 2 and "is not empty" in again.stderr
    assert lst.stop() == 0

    fresh = tmp_path / "restored"
    env = base_env(fresh)
    out = run_cli("restore", str(dest), "--data-dir", str(fresh), env=env).stdout
    assert "restored into" in out
    assert records(env) == before
    restored_followups = run_cli(
        "followup", "list", manifest.accession_number, "--json", env=env
    ).stdout
    assert restored_followups == followups_before
    # the header archive came along: records rebuild from it in the restored folder
    run_cli("reextract", env=env)
    assert [r["levels"] for r in records(env)] == [r["levels"] for r in before]
    over = run_cli("restore", str(dest), "--data-dir", str(fresh), env=env, check=False)
    assert over.returncode == 2 and "exists already" in over.stderr
    not_backup = run_cli("restore", str(tmp_path / "case"), env=env, check=False)
    assert not_backup.returncode == 2 and "is not a vp-log backup" in not_backup.stderr


def test_config_show_and_check(tmp_path: Path) -> None:
    cfg = tmp_path / "vp.toml"
    cfg.write_text('ae_title = "FILEAE"\nport = 104\n')
    env = base_env(tmp_path / "data", VP_LOG_PORT="11113")
    shown = json.loads(run_cli("--config", str(cfg), "config", "show", "--json", env=env).stdout)
    settings = shown["settings"]
    assert settings["ae_title"] == {
        "value": "FILEAE",
        "source": f"file {cfg}",
        "environment": "VP_LOG_AE_TITLE",
    }
    assert settings["port"]["value"] == 11113
    assert settings["port"]["source"] == "environment VP_LOG_PORT"
    assert settings["max_associations"]["source"] == "default"
    flagged = json.loads(
        run_cli("--config", str(cfg), "config", "show", "--json", "--port", "30430", env=env).stdout
    )
    assert flagged["settings"]["port"] == {
        "value": 30430,
        "source": "flag",
        "environment": "VP_LOG_PORT",
    }
    env_pg = {**env, "VP_LOG_DATABASE_URL": "postgresql://vp:secret@db:5432/vp"}
    text = run_cli("config", "show", env={**env_pg, "COLUMNS": "80"}).stdout
    assert "secret" not in text and "vp:***@db" in text
    assert re.search(r"port\s+11113\s+environment VP_LOG_PORT", text)

    checked = run_cli("config", "check", str(cfg), env=env).stdout
    assert "valid; sets ae_title, port" in checked
    assert "VP_LOG_PORT in the environment override" in checked
    bad = tmp_path / "bad.toml"
    bad.write_text('port = "eleven"\nae_titel = "X"\n')
    refused = run_cli("config", "check", str(bad), env=env, check=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "port" in refused.stderr and "did you mean 'ae_title'" in refused.stderr
    assert run_cli("config", "check", str(REPO / "config" / "vp_log.toml"), env=env).returncode == 0


def _documented_contexts() -> tuple[list[str], list[str]]:
    """SOP class and transfer syntax UIDs as docs/conformance.md lists them."""
    text = (REPO / "docs" / "conformance.md").read_text(encoding="utf-8")
    sop_part = text.split("#### 3.2.1", 1)[1].split("#### 3.2.2", 1)[0]
    sop_classes = re.findall(r"\| ([0-9.]+) \| No \| Yes \|", sop_part)
    ts_part = text.split("Every storage SOP class of 3.2.1 is accepted", 1)[1]
    ts_part = ts_part.split("#####", 1)[0]
    syntaxes = re.findall(r"\| (1\.2\.840\.10008\.1\.2[0-9.]*) \|", ts_part)
    return sop_classes, syntaxes


def test_the_running_listener_accepts_what_the_statement_says(listener_factory: object) -> None:
    sop_classes, syntaxes = _documented_contexts()
    assert len(sop_classes) >= 18 and len(syntaxes) >= 10
    lst = listener_factory()  # type: ignore[operator]
    xa = "1.2.840.10008.5.1.4.1.1.12.1"
    ct = "1.2.840.10008.5.1.4.1.1.2"  # not in the statement: must be refused
    scu = AE(ae_title="CONFTEST")
    contexts = [build_context(uid, syntaxes) for uid in sop_classes]
    contexts += [build_context(xa, [syntax]) for syntax in syntaxes]
    contexts.append(build_context(ct, syntaxes[:2]))
    assert len(contexts) <= 128
    scu.requested_contexts = contexts
    assoc = scu.associate("127.0.0.1", lst.port, ae_title="VPLOG")
    try:
        assert assoc.is_established
        accepted = assoc.accepted_contexts
        assert {str(c.abstract_syntax) for c in accepted} == set(sop_classes)
        xa_syntaxes = {str(c.transfer_syntax[0]) for c in accepted if c.abstract_syntax == xa}
        assert xa_syntaxes == set(syntaxes)
        assert ct in {str(c.abstract_syntax) for c in assoc.rejected_contexts}
    finally:
        assoc.release()
