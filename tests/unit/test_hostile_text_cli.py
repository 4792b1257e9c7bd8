"""Text from a DICOM file or a user reaches the terminal escaped, never obeyed (issue 16).

One study whose patient name, study description, accession, patient ID and operator carry a
screen clear, a colour, a carriage return and line feed, a right-to-left override and rich
markup; follow-up, corrections, baseline data and a quarantine reason that carry the same.
Every command that shows them prints them visibly escaped (``\\e[2J``, ``\\r\\n``,
``\\u202e``) with the markup as typed; no control character reaches stdout or stderr, and
JSON keeps the exact values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from typer.testing import CliRunner, Result

from vp_log.cli import app
from vp_log.cli.common import console, err_console
from vp_log.samples import write_case
from vp_log.spool import Spool

HOSTILE = "EVIL\x1b[2J\x1b[31mRED\r\nFORGED\u202eTXT[red]x[/red]"
SHOWN = "EVIL\\e[2J\\e[31mRED\\r\\nFORGED\\u202eTXT[red]x[/red]"
"""``HOSTILE`` as a person must see it."""
QUARANTINED = "EVIL\\e[2J\\e[31mRED FORGED\\u202eTXT[red]x[/red]"
"""A quarantine reason is written escaped and on one line (its line break a space)."""
PATIENT_ID = "P\x1b[5m7\u2066[bold]"
PATIENT_ID_SHOWN = "P\\e[5m7\\u2066[bold]"
OPERATOR = "Op\x1b]0;title\x07^X"
OPERATOR_SHOWN = "Op\\e]0;title\\x07^X"
DECIDED = f"(by {SHOWN} on"

# Whatever a terminal would obey: C0 (but the line feed), DEL, C1, bidi overrides/isolates.
RAW_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _hostile_study(folder: Path) -> Path:
    manifest = write_case("vp-two-level", folder, seed=0)
    for path in manifest.paths():
        ds = pydicom.dcmread(path)
        ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: the ESC is text, not a charset switch
        ds.PatientName = "Doe^" + HOSTILE
        ds.PatientID = PATIENT_ID
        ds.StudyDescription = "Vertebroplasty " + HOSTILE
        ds.OperatorsName = OPERATOR
        ds.save_as(path)
    return folder


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data folder with the hostile study, follow-up, baseline data and a quarantined file."""
    root = tmp_path_factory.mktemp("hostile_text")
    data = root / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VP_LOG_DATA_DIR", str(data))
        mp.setenv("VP_LOG_CONFIG", "")
        mp.setenv("VP_LOG_DOSE_ALERT_DAP_GY_CM2", "1")  # the study is a dose alert
        mp.setattr(console, "width", 400)  # a cell without spaces is cut at 80 columns
        run = CliRunner().invoke
        imported = run(app, ["import", str(_hostile_study(root / "study"))])
        assert imported.exit_code == 0, imported.output
        # Not every item is given: the prompts show the summary (with the notes) first.
        added = run(
            app,
            [
                *("followup", "add", "1", "--date", "2024-08-04", "--timepoint", "1d"),
                *("--pain", "5", "--notes", HOSTILE, "--by", HOSTILE),
            ],
            input="\n" * 8 + "y\n",
        )
        assert added.exit_code == 0, added.output
        assert SHOWN in _flat(added.output), added.output  # the notes in the summary
        for args in (
            ["followup", "correct", "1", "--pain", "4", "--reason", HOSTILE, "--by", HOSTILE],
            ["followup", "close", "1", "--timepoint", "1w", "--reason", "lost", "--by", HOSTILE],
            ["procedures", "annotate", "1", "--trial-arm", HOSTILE, "--by", HOSTILE],
            [
                "procedures",
                "decide",
                "1",
                "--type",
                "kyphoplasty",
                "--reason",
                HOSTILE,
                "--by",
                HOSTILE,
            ],
        ):
            done = run(app, [*args, "--yes"] if args[1] == "correct" else args)
            assert done.exit_code == 0, done.output
        bad = root / "bad.dcm"
        bad.write_bytes(b"not DICOM")
        Spool(data).to_quarantine(bad, "unreadable DICOM header: " + HOSTILE, kind="unreadable")
        yield data


def _flat(text: str) -> str:
    """The output without table borders and line breaks: a wrapped cell reads whole."""
    return re.sub(r"[\s│┃|]+", "", text)


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables wide enough that no cell is cut (the 80-column views are looked at in tmux)."""
    monkeypatch.setattr(console, "width", 400)
    monkeypatch.setattr(err_console, "width", 400)


def _run(data_dir: Path, *args: str) -> Result:
    env = {
        "VP_LOG_DATA_DIR": str(data_dir),
        "VP_LOG_CONFIG": "",
        "VP_LOG_DOSE_ALERT_DAP_GY_CM2": "1",
    }
    return CliRunner().invoke(app, list(args), env=env)


@pytest.mark.usefixtures("wide")
@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (("procedures", "list", "--all"), [PATIENT_ID_SHOWN]),
        (("procedures", "list", "--all", "--wide"), [PATIENT_ID_SHOWN, "Doe^" + SHOWN]),
        (
            ("procedures", "show", "1"),
            ["Doe^" + SHOWN, "Vertebroplasty " + SHOWN, OPERATOR_SHOWN, PATIENT_ID_SHOWN, DECIDED],
        ),
        (("procedures", "show", "1", "--events"), ["Doe^" + SHOWN, "trialarm" + SHOWN]),
        (("followup", "history", "1"), ["by" + SHOWN + ":" + SHOWN]),
        (("followup", "list", "--wide"), [SHOWN]),
        (("followup", "due"), [PATIENT_ID_SHOWN, "Doe," + SHOWN]),
        (("followup", "due", "--wide"), [PATIENT_ID_SHOWN, "Doe," + SHOWN]),
        (("audit",), [SHOWN]),
        (("quarantine", "list"), ["unreadable DICOM header: " + QUARANTINED]),
        (("dose", "alerts"), [PATIENT_ID_SHOWN]),
        (("status",), ["unreadable DICOM header: " + QUARANTINED]),
        (("report", "outcomes", "--arm", HOSTILE), ["arm" + SHOWN]),
        (("report", "completeness"), []),
        (("report", "dose"), []),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else "",
)
def test_tables_and_text_show_control_characters_escaped(
    data_dir: Path, args: tuple[str, ...], shown: list[str]
) -> None:
    result = _run(data_dir, *args)
    assert result.exit_code == 0, result.output
    for stream in (result.stdout, result.stderr):
        assert not RAW_CONTROL.findall(stream), stream
    flat = _flat(result.stdout)
    for text in shown:
        assert _flat(text) in flat, result.stdout


@pytest.mark.usefixtures("wide")
@pytest.mark.parametrize(
    "args",
    [
        ("report", "outcomes", "--arm", "no such arm"),
        ("procedures", "show", HOSTILE),
        ("followup", "add", HOSTILE, "--pain", "3", "--yes"),
    ],
    ids=lambda v: " ".join(v[:2]),
)
def test_an_error_quoting_hostile_text_is_one_escaped_line(
    data_dir: Path, args: tuple[str, ...]
) -> None:
    result = _run(data_dir, *args)
    assert result.exit_code == 2, result.output
    assert not RAW_CONTROL.findall(result.stderr), result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "\\e[2J" in lines[0] or "\\x1b[2J" in lines[0]


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@pytest.mark.parametrize(
    "args",
    [
        ("procedures", "list", "--all", "--wide", "--json"),
        ("procedures", "show", "1", "--json"),
        ("followup", "history", "1", "--json"),
        ("followup", "list", "--json"),
        ("audit", "--json"),
    ],
    ids=" ".join,
)
def test_json_keeps_the_exact_values(data_dir: Path, args: tuple[str, ...]) -> None:
    """JSON escapes what it must itself; DEL, C1 and bidi characters are written as \\uXXXX
    (the same values once parsed, nothing left raw for a terminal)."""
    result = _run(data_dir, *args)
    assert result.exit_code == 0, result.output
    assert not RAW_CONTROL.findall(result.stdout)
    values = list(_strings(json.loads(result.stdout)))
    assert any(HOSTILE in v or v == PATIENT_ID for v in values), values
