"""Running it like a DICOM node: storescp-style flags, refusals, AE title checks, --version."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from conftest import base_env, echoscu, free_port, run_cli, wait_for
from vp_log.config import Settings, environment_name


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "vp_log", *args],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def test_listen_flags_beat_environment_and_file(tmp_path: Path) -> None:
    port, env_port = free_port(), free_port()
    cfg = tmp_path / "vp.toml"
    cfg.write_text('ae_title = "FILEAE"\nport = 1\nbind_address = "0.0.0.0"\n')
    data = tmp_path / "flagdata"
    env = base_env(tmp_path / "envdata", VP_LOG_PORT=str(env_port), VP_LOG_AE_TITLE="ENVAE")
    log = tmp_path / "listen.log"
    proc = _start(
        [
            "listen",
            "--port",
            str(port),
            "--aet",
            "FLAGAE",
            "--bind",
            "127.0.0.1",
            "--data-dir",
            str(data),
            "--config",
            str(cfg),
        ],
        env,
        log,
    )
    try:
        assert wait_for(lambda: "listening as" in log.read_text(), timeout=60), log.read_text()
        assert f"listening as FLAGAE on 127.0.0.1:{port} (data in {data}" in log.read_text()
        assert echoscu(port, ae_title="FLAGAE").returncode == 0
        assert (data / "spool").is_dir() and not (tmp_path / "envdata").exists()
    finally:
        _stop(proc)


def test_called_ae_title_is_checked_and_both_checks_logged(listener_factory: object) -> None:
    lst = listener_factory()  # type: ignore[operator]
    assert echoscu(lst.port, ae_title="VPLOG", calling="PACS1").returncode == 0
    wrong = echoscu(lst.port, ae_title="NOTVPLOG", calling="PACS2")
    assert wrong.returncode != 0
    assert "Called AE Title Not Recognized" in wrong.stdout + wrong.stderr
    assert wait_for(lambda: "PACS2" in lst.log(), timeout=10)
    log = lst.log()
    assert (
        "association from PACS1 (127.0.0.1:" in log
        and "accepted: calling AE 'PACS1' accepted (no allow-list), called AE 'VPLOG' is ours"
        in log
    )
    assert log.count("'PACS1' accepted (no allow-list)") == 1  # once per association
    assert "rejected, called AE title not recognised: calling AE 'PACS2'" in log
    assert "called AE 'NOTVPLOG' is not ours ('VPLOG')" in log


def test_any_called_ae_title_when_the_setting_says_so(listener_factory: object) -> None:
    lst = listener_factory(VP_LOG_ACCEPT_ANY_CALLED_AET="true")  # type: ignore[operator]
    assert echoscu(lst.port, ae_title="WHATEVER", calling="PACS3").returncode == 0
    assert wait_for(lambda: "'WHATEVER' accepted (accept_any_called_aet)" in lst.log(), timeout=10)


def test_calling_ae_refusal_names_the_standard_reason(listener_factory: object) -> None:
    lst = listener_factory(VP_LOG_ALLOWED_CALLING_AETS="PACS_MAIN")  # type: ignore[operator]
    refused = echoscu(lst.port, calling="INTRUDER")
    assert refused.returncode != 0
    assert "Calling AE Title Not Recognized" in refused.stdout + refused.stderr
    assert wait_for(lambda: "rejected, calling AE title not recognised" in lst.log(), timeout=10)


def test_misspelt_variable_stops_listen_naming_it(tmp_path: Path) -> None:
    env = base_env(tmp_path / "data", VP_LOG_PORTT="30430")
    started = time.monotonic()
    proc = run_cli("listen", env=env, check=False)
    assert proc.returncode == 2 and time.monotonic() - started < 30
    assert "Unknown environment variable VP_LOG_PORTT (did you mean VP_LOG_PORT?)" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data" / "spool").exists()


def test_version_and_listen_help(tmp_path: Path) -> None:
    env = base_env(tmp_path / "data")
    version = run_cli("--version", env=env)
    assert version.stdout.startswith("vp-log 0.1.0 (pydicom ")
    helptext = run_cli("listen", "--help", env={**env, "COLUMNS": "80"}).stdout
    for flag in ("--port", "--aet", "--bind", "--data-dir", "--config"):
        assert flag in helptext
    flat = " ".join(helptext.split())
    for name in Settings.model_fields:  # every setting taken from elsewhere is named
        assert environment_name(name) in flat, name
    assert "VP_LOG_CONFIG" in flat
