"""Bad input to any command ends in one clean line naming the option or setting (issue 16).

Numbers too large for an id, impossible dates, values of the wrong type, unknown options,
missing files, folders for files and files for folders, unreadable tables and configuration,
a data folder under a file or without write permission: exit 2, one ``error:`` line, no
traceback. Most run in this process (CliRunner); those that need the real entry point (its
handler of store errors) or another set of capabilities run ``vp-log`` as a subprocess.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vp_log.cli import app
from vp_log.samples import write_case

HUGE = "99999999999999999999"
VP_LOG = Path(sys.executable).with_name("vp-log")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data folder with one procedure (record 1) and one follow-up entry (entry 1), and the
    odd files the cases name (``{site}/...``)."""
    root = tmp_path_factory.mktemp("bad_inputs")
    data = root / "data"
    env = {"VP_LOG_DATA_DIR": str(data), "VP_LOG_CONFIG": ""}
    write_case("kp-one-level", root / "study", seed=3)
    for args in (
        ["import", str(root / "study")],
        ["followup", "add", "1", "--date", "2024-08-04", "--pain", "5", "--by", "x", "--yes"],
    ):
        done = CliRunner().invoke(app, args, env=env)
        assert done.exit_code == 0, done.output
    (root / "afile").write_text("x")
    (root / "adir").mkdir()
    (root / "empty.csv").write_bytes(b"")
    (root / "bad.xlsx").write_bytes(b"PK\x03\x04 not a workbook")
    (root / "bad.toml").write_text("data_dir = [unclosed\n")
    (root / "latin1.toml").write_bytes(b'ae_title = "CAF\xc9"\n')
    yield root


CASES: list[tuple[tuple[str, ...], dict[str, str], str]] = [
    # ids too large for SQLite's 64-bit integers
    (("procedures", "show", HUGE), {}, f"no procedure record with id, accession number or Study Instance UID '{HUGE}'"),
    (("procedures", "annotate", HUGE, "--trial-arm", "A"), {}, "no procedure record"),
    (("followup", "add", HUGE, "--pain", "3", "--yes"), {}, f"no procedure with record id, accession number, Study Instance UID or patient ID '{HUGE}'"),
    (("followup", "correct", HUGE, "--pain", "3", "--reason", "r", "--yes"), {}, f"no follow-up entry {HUGE}"),
    (("followup", "history", HUGE), {}, f"no follow-up entry {HUGE}"),
    (("followup", "close", HUGE, "--timepoint", "1w", "--reason", "lost"), {}, "no procedure with"),
    (("followup", "due", "--procedure", HUGE), {}, f"--procedure '{HUGE}' refused"),
    # options and arguments
    (("followup", "list", "--procedure", "1"), {}, "No such option: --procedure (see `vp-log followup list --help`)"),
    (("procedures", "show"), {}, "Missing argument 'key'. (see `vp-log procedures show --help`)"),
    (("report", "outcomes", "--levels", "abc"), {}, "Invalid value for '--levels': not a whole number"),
    (("report", "outcomes", "--levels", "-3"), {}, "--levels -3 refused (allowed: a whole number of levels, 1 or more)"),
    (("report", "outcomes", "--type", "cementoplasty"), {}, "--type 'cementoplasty' is not known"),
    (("export", "--out", "{site}/exp", "--format", "pdf"), {}, "--format 'pdf' is not known (allowed: csv, xlsx, json)"),
    # dates
    (("procedures", "list", "--since", "2024-13-45"), {}, "--since must be a date as YYYY-MM-DD, got '2024-13-45'"),
    (("report", "outcomes", "--since", "2024-02-30"), {}, "--since '2024-02-30' is not a date"),
    (("followup", "due", "--as-of", "notadate"), {}, "--as-of 'notadate' refused"),
    (("dose", "alerts", "--since", "2024-1-1"), {}, "--since must be a date as YYYY-MM-DD"),
    (("audit", "--since", "yesterday"), {}, "--since 'yesterday' refused"),
    # follow-up values
    (("followup", "add", "1", "--date", "2024-09-01", "--pain", "-5", "--yes"), {}, "--pain = '-5' refused: below the minimum"),
    (("followup", "add", "1", "--date", "2024-09-01", "--pain", "nan", "--yes"), {}, "--pain = 'nan' refused: not a finite number"),
    (("followup", "add", "1", "--date", "2024-99-01", "--pain", "3", "--yes"), {}, "--date '2024-99-01' refused"),
    (("followup", "add", "1", "--date", "2024-09-01", "--odi", "300", "--rmdq", "99", "--yes"), {}, "--odi = '300' refused: above the maximum (0–100) (allowed: 0–100 (%)); --rmdq = '99' refused"),
    (("followup", "close", "1", "--timepoint", "99y", "--reason", "lost"), {}, "time point '99y' refused"),
    # files and folders
    (("followup", "import", "{site}/none.csv"), {}, "none.csv cannot be read"),
    (("followup", "import", "{site}/adir"), {}, "adir: not a .csv or .xlsx file"),
    (("followup", "import", "{site}/empty.csv"), {}, "empty.csv is empty (the first row names the columns)"),
    (("followup", "import", "{site}/bad.xlsx"), {}, "bad.xlsx cannot be read as an XLSX workbook"),
    (("import", "{site}/none"), {}, "none: no such file or folder"),
    (("export", "--out", "{site}/afile"), {}, "cannot write: {site}/afile is a file, not a folder"),
    (("report", "outcomes", "--csv", "{site}/afile"), {}, "cannot write: {site}/afile is a file, not a folder"),
    (("backup", "{site}/afile"), {}, "is not empty; give a new or empty folder"),
    (("restore", "{site}/adir"), {}, "is not a vp-log backup"),
    (("quarantine", "retry", "nosuchfile"), {}, "no quarantined file nosuchfile"),
    # configuration
    (("--config", "{site}/none.toml", "procedures", "list"), {}, "Configuration file {site}/none.toml does not exist"),
    (("--config", "{site}/bad.toml", "procedures", "list"), {}, "Configuration file {site}/bad.toml: Invalid value"),
    (("procedures", "list"), {"VP_LOG_PORT": "abc"}, "Invalid configuration: Setting 'port' (VP_LOG_PORT)"),
    (("procedures", "list"), {"VP_LOG_QUIET_PERIOD_S": "-5", "VP_LOG_PORTT": "1"}, "Unknown environment variable VP_LOG_PORTT (did you mean VP_LOG_PORT?)"),
    (("listen", "--port", "99999"), {}, "Invalid configuration: --port 99999: must be at most 65535"),
    (("listen", "--aet", ""), {}, "--aet '': AE title must be 1-16 printable ASCII characters"),
    (("procedures", "list"), {"VP_LOG_PORT": "70000"}, "Setting 'port' (VP_LOG_PORT): must be at most 65535 (got '70000')"),
    (("procedures", "list"), {"VP_LOG_RECEIVE_PROCESSES": "0"}, "Setting 'receive_processes' (VP_LOG_RECEIVE_PROCESSES): must be at least 1"),
    (("procedures", "list"), {"VP_LOG_QUIET_PERIOD_S": "soon"}, "Setting 'quiet_period_s' (VP_LOG_QUIET_PERIOD_S): not a number (got 'soon')"),
    # an option without its value: named, with the help of the command it belongs to
    (("procedures", "decide", "1", "--revoke"), {}, "--revoke needs a value (see `vp-log procedures decide --help`)"),
    (("followup", "add", "1", "--pain"), {}, "--pain needs a value (see `vp-log followup add --help`)"),
    (("--config",), {}, "--config needs a value (see `vp-log --help`)"),
    (("procedures", "list", "--limit"), {}, "--limit needs a value (see `vp-log procedures list --help`)"),
    # a bad value given beside prompts is refused before the first prompt
    (("followup", "add", "1", "--pain", "x"), {}, "--pain = 'x' refused: not a number"),
    (("followup", "add", "1", "--odi", "140"), {}, "--odi = '140' refused: above the maximum"),
    # the data folder
    (("import", "{site}/study"), {"VP_LOG_DATA_DIR": "{site}/afile/data"}, "cannot write in the data folder {site}/afile/data: a part of {site}/afile/data is a file, not a folder; check data_dir (VP_LOG_DATA_DIR={site}/afile/data)"),
    (("import", "{site}/study"), {"VP_LOG_DATA_DIR": "{site}/afile"}, "the data folder {site}/afile is a file, not a folder: check data_dir (VP_LOG_DATA_DIR={site}/afile)"),
    (("db", "upgrade"), {"VP_LOG_DATA_DIR": "{site}/afile/data"}, "a part of {site}/afile/data is a file"),
]  # fmt: skip


def _fill(text: str, site: Path) -> str:
    return text.replace("{site}", str(site))


def _one_line(code: int, stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, (code, stderr)
    assert lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "env", "said"), CASES, ids=lambda v: " ".join(v)[:50] if isinstance(v, tuple) else ""
)
def test_bad_input_is_one_clean_line(site: Path, args: tuple[str, ...], env: dict[str, str], said: str) -> None:  # fmt: skip
    environ = {"VP_LOG_DATA_DIR": str(site / "data"), "VP_LOG_CONFIG": ""}
    environ |= {name: _fill(value, site) for name, value in env.items()}
    result = CliRunner().invoke(app, [_fill(a, site) for a in args], env=environ)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    line = _one_line(result.exit_code, result.stderr)
    assert _fill(said, site) in line, line


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _without_permission_override() -> list[str]:
    """Root ignores file modes: run it without the capabilities that let it (setpriv)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: file modes cannot be tried")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def _vp_log(*args: str, data_dir: Path, prefix: list[str] | None = None) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VP_LOG_")}
    env |= {"VP_LOG_DATA_DIR": str(data_dir), "VP_LOG_CONFIG": "", "COLUMNS": "80"}
    proc = subprocess.run(
        [*(prefix or []), str(VP_LOG), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return proc.returncode, proc.stderr


def test_a_huge_entry_number_through_the_real_command(site: Path) -> None:
    """The traceback the hostile-input campaign found (OverflowError from SQLite)."""
    for args in (("followup", "correct", HUGE, "--pain", "3", "--reason", "r", "--yes"),
                 ("followup", "history", HUGE)):  # fmt: skip
        line = _one_line(*_vp_log(*args, data_dir=site / "data"))
        assert f"no follow-up entry {HUGE}" in line


def test_an_unknown_option_through_the_real_command(site: Path) -> None:
    line = _one_line(*_vp_log("procedures", "list", "--bogus", data_dir=site / "data"))
    assert line == "error: No such option: --bogus (see `vp-log procedures list --help`)"


@pytest.mark.parametrize(
    "args",
    [("import", "{site}/study"), ("listen", "--port", "{port}", "--bind", "127.0.0.1")],
    ids=lambda v: v[0],
)
def test_an_unwritable_data_folder_names_it_and_the_setting(
    site: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    prefix = _without_permission_override()
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    data = locked / "data"
    argv = [_fill(a, site).replace("{port}", str(_free_port())) for a in args]
    line = _one_line(*_vp_log(*argv, data_dir=data, prefix=prefix))
    assert line == (
        f"error: cannot write in the data folder {data}: permission denied; "
        f"check data_dir (VP_LOG_DATA_DIR={data})"
    )
    assert not data.exists()


def test_a_read_only_data_folder_with_a_store_names_the_database(
    site: Path, tmp_path: Path
) -> None:
    """Reading too: SQLite (WAL) writes beside its file; the line says so and where it is."""
    prefix = _without_permission_override()
    data = tmp_path / "copy"
    shutil.copytree(site / "data", data)
    data.chmod(0o500)
    try:
        line = _one_line(*_vp_log("procedures", "list", data_dir=data, prefix=prefix))
        assert "readonly database" in line and "its folder must be writable" in line
        assert f"the database is sqlite:///{data / 'vp_log.db'}, from data_dir" in line
        line = _one_line(*_vp_log("import", str(site / "study"), data_dir=data, prefix=prefix))
        assert f"cannot write in the data folder {data}: permission denied" in line
    finally:
        data.chmod(0o700)


def test_a_data_folder_under_a_file_through_the_real_listener(site: Path) -> None:
    data = site / "afile" / "data"
    line = _one_line(
        *_vp_log("listen", "--port", str(_free_port()), "--bind", "127.0.0.1", data_dir=data)
    )
    assert f"a part of {data} is a file, not a folder; check data_dir" in line


def test_followup_add_refuses_a_missing_store_before_it_asks(tmp_path: Path) -> None:
    """Prompts come after every refusal that needs no answer: nothing is typed in vain."""
    result = CliRunner().invoke(
        app,
        ["followup", "add", "1", "--pain", "3"],
        env={"VP_LOG_DATA_DIR": str(tmp_path / "mistyped"), "VP_LOG_CONFIG": ""},
        input="2024-09-01\n",
    )
    line = _one_line(result.exit_code, result.stderr)
    assert "no vp_log database at" in line, line
    assert "Date of the assessment" not in result.stdout, result.stdout
