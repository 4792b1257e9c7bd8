"""Manual record decisions (issue 10) on a real store: ``vp-log procedures decide``.

The generated cases are imported by a real ``vp-log import`` process; decisions are made
with the CLI; listings, the follow-up worklist, reports and the export read the effective
record; ``vp-log reextract`` (a real process) rebuilds the records and keeps the decisions;
revoking brings back what was extracted; the audit log has every change. On SQLite and on
PostgreSQL (``database_url``).
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from conftest import base_env, run_cli
from vp_log.cli import app
from vp_log.samples import write_all_cases

AS_OF = "2025-01-01"  # the generated cases (seed 0) are dated 2024


def vp_log(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def as_json(env: dict[str, str], *args: str) -> Any:
    result = vp_log(env, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def listed(env: dict[str, str], *more: str) -> dict[int, dict[str, Any]]:
    return {r["id"]: r for r in as_json(env, "procedures", "list", *more)}


def on_worklist(env: dict[str, str]) -> set[int]:
    return {i["procedure_id"] for i in as_json(env, "followup", "due", "--as-of", AS_OF)}


def exported(env: dict[str, str], out: Path) -> dict[str, dict[str, str]]:
    """The wide export's rows by accession number."""
    result = vp_log(env, "export", "--shape", "wide", "--out", str(out))
    assert result.exit_code == 0, result.output
    with (out / "vp_log_wide.csv").open(encoding="utf-8") as fh:
        return {row["accession_number"]: row for row in csv.DictReader(fh)}


def decide(env: dict[str, str], key: int | str, *args: str) -> Result:
    result = vp_log(env, "procedures", "decide", str(key), *args, "--by", "dr.a")
    assert result.exit_code == 0, result.output
    return result


def _imported(tmp_path: Path, database_url: str) -> dict[str, Any]:
    data = tmp_path / "data"
    write_all_cases(tmp_path / "cases", seed=0, size="small")
    env = base_env(data, database_url, COLUMNS="80")
    run_cli("import", str(tmp_path / "cases"), env=env)
    every = listed(env, "--all")
    ids = {r["procedure_type"]: r["id"] for r in every.values()}
    return {"env": env, "ids": ids, "records": every, "tmp": tmp_path}


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> dict[str, Any]:
    """The generated cases in a fresh SQLite file or PostgreSQL database."""
    return _imported(tmp_path, database_url)


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The generated cases in one SQLite file shared by the tests that read or refuse."""
    tmp = tmp_path_factory.mktemp("decisions")
    return _imported(tmp, f"sqlite:///{tmp / 'vp_log.db'}")


def test_decisions_change_what_every_reader_sees_and_survive_reextract(
    store: dict[str, Any],
) -> None:
    env, ids, records = store["env"], store["ids"], store["records"]
    facet, vp = ids["other"], ids["vertebroplasty"]
    assert facet not in listed(env) and facet not in on_worklist(env)
    assert vp in listed(env) and vp in on_worklist(env)

    # An 'other' record decided as a vertebroplasty joins the listing and the worklist.
    done = decide(
        env, facet, "--type", "vertebroplasty", "--levels", "L1", "--cement", "L1=3,5",
        "--reason", "op note: VP L1 after the facet block",
    )  # fmt: skip
    assert "type other -> vertebroplasty" in " ".join(done.stdout.split())
    shown = listed(env)[facet]
    assert shown["procedure_type"] == "vertebroplasty"
    assert [(lv["level"], lv["cement_ml"]) for lv in shown["levels"]] == [("L1", 3.5)]
    assert shown["total_cement_ml"] == 3.5 and shown["excluded"] is None
    assert shown["extracted"]["procedure_type"] == "other"
    assert [(d["field"], d["decided_by"]) for d in shown["decisions"]] == [
        ("type", "dr.a"),
        ("levels", "dr.a"),
        ("cement", "dr.a"),
    ]
    assert facet in on_worklist(env)
    report = as_json(env, "report", "all", "--as-of", AS_OF)
    assert report["procedures"] == 4  # the three augmentations and the decided one

    # An excluded record leaves the listing, the worklist, the reports and the export...
    decide(env, vp, "--exclude", "phantom", "--reason", "QA phantom run")
    assert vp not in listed(env) and vp not in on_worklist(env)
    assert as_json(env, "report", "all", "--as-of", AS_OF)["procedures"] == 3
    accessions = exported(env, store["tmp"] / "export")
    assert records[vp]["accession_number"] not in accessions
    row = accessions[records[facet]["accession_number"]]
    assert (row["procedure_type"], row["levels"], row["cement_ml"]) == (
        "vertebroplasty",
        "L1",
        "3.5",
    )
    assert row["decided"] == "type levels cement"
    assert accessions[records[ids["kyphoplasty"]]["accession_number"]]["decided"] == ""
    # ... takes no follow-up (one line, the way back named), and nothing is written ...
    refused = vp_log(
        env, "followup", "add", str(vp), "--date", "2025-01-02", "--pain", "3", "--yes"
    )
    assert refused.exit_code == 2, refused.output
    line = " ".join(refused.output.split())
    assert f"record {vp} is excluded (phantom, by a manual decision)" in line
    assert f"vp-log procedures decide {vp} --revoke exclude" in line
    assert as_json(env, "followup", "list", str(vp), "--json") == []
    # ... and is shown, marked, with --all.
    assert listed(env, "--all")[vp]["excluded"] == "phantom"
    table = " ".join(vp_log(env, "procedures", "list", "--all").stdout.split())
    assert "excluded phantom" in table and "vertebroplasty* L1* 3.5 mL*" in table

    # Re-extraction rebuilds every record from the archive; the decisions stay.
    run_cli("reextract", env=env)
    after = listed(env, "--all")
    assert after[facet]["procedure_type"] == "vertebroplasty" and after[vp]["excluded"]
    assert after[facet]["extracted"]["procedure_type"] == "other"
    assert facet in on_worklist(env) and vp not in on_worklist(env)

    # Revoking brings back what was extracted.
    decide(env, facet, "--revoke", "all", "--reason", "wrong record")
    decide(env, vp, "--revoke", "exclude", "--reason", "it was a patient")
    back = listed(env, "--all")
    assert back[facet]["procedure_type"] == "other" and back[facet]["levels"] == []
    assert back[facet]["decisions"] == [] and back[facet]["extracted"] is None
    assert facet not in listed(env) and vp in listed(env) and vp in on_worklist(env)
    assert as_json(env, "report", "all", "--as-of", AS_OF)["procedures"] == 3

    # The audit log has each change: who, when, old and new, why.
    audit = [e for e in as_json(env, "audit") if e["entity"] == "procedure"]
    assert [(e["action"], e["entity_id"], e["who"]) for e in audit] == [
        ("decide", str(facet), "dr.a"),
        ("decide", str(vp), "dr.a"),
        ("revoke", str(facet), "dr.a"),
        ("revoke", str(vp), "dr.a"),
    ]
    assert audit[0]["details"]["changes"]["type"] == {"old": "other", "new": "vertebroplasty"}
    assert audit[1]["details"]["changes"] == {"exclude": {"old": None, "new": "phantom"}}
    assert audit[2]["details"]["reason"] == "wrong record"
    assert audit[2]["details"]["changes"]["levels"] == {"old": ["L1"], "new": []}


def test_show_gives_the_decision_and_what_was_extracted(sqlite_store: dict[str, Any]) -> None:
    env, kp = sqlite_store["env"], sqlite_store["ids"]["kyphoplasty"]
    decide(env, kp, "--type", "vertebroplasty", "--reason", "no balloon in the images")
    text = " ".join(re.sub("[│┃]", " ", vp_log(env, "procedures", "show", str(kp)).stdout).split())
    assert "vertebroplasty (decided; extracted: kyphoplasty)" in text
    assert "decided: vertebroplasty (by dr.a on " in text
    assert "no balloon in the images) extracted: kyphoplasty" in text
    shown = as_json(env, "procedures", "show", str(kp))
    assert shown["procedure_type"] == "vertebroplasty"
    assert shown["procedure_type_reason"].startswith("decided by dr.a on ")
    assert shown["extracted"]["procedure_type"] == "kyphoplasty"
    assert shown["decisions"][0]["extracted"] == "kyphoplasty"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--levels", "L9"), "--levels: 'L9' is not a vertebra; use C1-C7, T1-T12, L1-L5"),
        (("--cement", "L1=x"), "--cement: 'L1=x' has no volume in mL"),
        (("--type", "vp"), "--type: 'vp' is not a procedure type; use vertebroplasty,"),
        (("--exclude", "junk"), "--exclude: 'junk' is not an exclusion reason"),
        (("--approach", "sideways"), "--approach: 'sideways' is not an approach"),
        (("--type", "kyphoplasty"), "--reason: say why"),
        (("--reason", "x"), "nothing to decide: give one of --type"),
        (("--revoke", "type", "--type", "other", "--reason", "x"), "--revoke: give it alone"),
        (("--revoke", "colour", "--reason", "x"), "--revoke: 'colour' is not a decision"),
        (("--revoke", "type", "--reason", "x"), "--revoke type: nothing decided for type"),
    ],
)
def test_refusals_are_one_line_naming_the_option(
    sqlite_store: dict[str, Any], args: tuple[str, ...], message: str
) -> None:
    env, vp = sqlite_store["env"], str(sqlite_store["ids"]["vertebroplasty"])
    result = vp_log(env, "procedures", "decide", vp, *args)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert message in lines[0], lines[0]
    assert [e for e in as_json(env, "audit") if e["entity_id"] == vp] == []  # nothing written


def test_an_unknown_record_is_one_line(sqlite_store: dict[str, Any]) -> None:
    env = sqlite_store["env"]
    result = vp_log(env, "procedures", "decide", "999", "--type", "other", "--reason", "x")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: no procedure record with id, accession number or Study Instance UID '999'"
    )
