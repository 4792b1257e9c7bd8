"""Issue 5 end to end, as a new user would: the README's commands only.

A case arrives over DICOM; a baseline and three follow-ups are entered with `vp-log followup
add`; `vp-log procedures show` shows the timeline with the change from baseline.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from conftest import ListenerFactory, run_cli, storescu, wait_for
from vp_log.samples import write_case


def test_baseline_and_three_follow_ups_for_a_case_received_over_dicom(
    listener_factory: ListenerFactory, tmp_path: Path
) -> None:
    manifest = write_case("vp-two-level", tmp_path / "case", seed=21)
    lst = listener_factory()
    assert storescu(lst.port, manifest.paths()).returncode == 0
    env = lst.env

    def listed() -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = json.loads(
            run_cli("procedures", "list", "--json", env=env).stdout
        )
        return data

    assert wait_for(lambda: [r["status"] for r in listed()] == ["complete"], timeout=60)
    accession = manifest.accession_number
    day0 = date.fromisoformat(manifest.study_date)

    entries = [
        (
            day0 - timedelta(days=1),
            [
                "--timepoint",
                "baseline",
                "--pain",
                "8",
                "--odi",
                "64",
                "--rmdq",
                "19",
                "--analgesic",
                "strong-opioid",
            ],
        ),
        (
            day0 + timedelta(days=7),
            ["--pain", "4.5", "--odi", "40", "--rmdq", "12", "--analgesic", "weak-opioid"],
        ),
        (
            day0 + timedelta(days=30),
            ["--pain", "2", "--odi", "24", "--rmdq", "7", "--analgesic", "non-opioid"],
        ),
        (
            day0 + timedelta(days=92),
            [
                "--pain",
                "1",
                "--odi",
                "18",
                "--rmdq",
                "4",
                "--analgesic",
                "none",
                "--new-fracture",
                f"L2@{day0 + timedelta(days=80)}",
            ],
        ),
    ]
    for when, options in entries:
        run_cli(
            "followup",
            "add",
            accession,
            "--date",
            when.isoformat(),
            *options,
            "--by",
            "research-nurse",
            "--yes",
            env=env,
        )

    shown = json.loads(run_cli("procedures", "show", accession, "--json", env=env).stdout)
    timeline = shown["outcomes"]["timepoints"]
    assert [t["timepoint"] for t in timeline] == ["baseline", "1w", "1m", "3m"]
    assert [t["pain"] for t in timeline] == [8, 4.5, 2, 1]
    assert timeline[-1]["change_from_baseline"]["pain"] == -7
    assert timeline[-1]["change_from_baseline"]["odi_percent"] == -46
    (fracture,) = shown["outcomes"]["new_fractures"]
    assert fracture["level"] == "L2" and fracture["adjacent"] is True  # next to treated L1

    people = run_cli("procedures", "show", accession, env={**env, "COLUMNS": "200"}).stdout
    assert "3m" in people and "baseline" in people
    audit = json.loads(run_cli("audit", "--json", env=env).stdout)
    assert len(audit) >= 4 and {a["who"] for a in audit} == {"research-nurse"}


def test_pacs_forwarding_everything_leaves_only_augmentation_on_the_worklist(
    listener_factory: object, tmp_path: Path
) -> None:
    """Issue 10: a PACS forwards every study (the public samples and the generated cases)."""
    from conftest import sample_files
    from vp_log.samples import write_all_cases

    manifests = write_all_cases(tmp_path / "cases", seed=3, size="small")
    lst = listener_factory()  # type: ignore[operator]
    storescu(lst.port, sample_files())  # files of classes vp_log does not take are refused
    for manifest in manifests:
        assert storescu(lst.port, manifest.paths()).returncode == 0
    env = lst.env

    def records(*extra: str) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = json.loads(
            run_cli("procedures", "list", "--json", *extra, env=env).stdout
        )
        return data

    def settled() -> bool:
        spool = lst.data_dir / "spool"
        found = records("--all")
        return (
            not any(spool.glob("*.dcm"))
            and len(found) > len(manifests)
            and all(r["status"] != "receiving" for r in found)
        )

    assert wait_for(settled, timeout=120)
    every = records("--all")
    augmentation = {r["id"] for r in records()}
    dated = {r["id"] for r in records() if r.get("study_date")}
    due = json.loads(run_cli("followup", "due", "--json", env=env).stdout)
    on_worklist = {d["procedure_id"] for d in due}
    assert on_worklist == dated, "every dated augmentation record, nothing else"
    assert on_worklist <= augmentation < {r["id"] for r in every}
    kinds = {r["procedure_type"] for r in every if r["id"] not in augmentation}
    # Studies that are not augmentation: unclassified ones, and other procedures named by
    # their own words (the generated facet injection is "other" since issue 11).
    assert kinds <= {"unclassified", "other"} and "other" in kinds
    for case in manifests:
        expected = case.procedure_type not in ("unclassified", "other")
        ids = {r["id"] for r in every if r["study_instance_uid"] == case.study_instance_uid}
        assert bool(ids & on_worklist) == expected, case.case
    people = run_cli("followup", "due", env={**env, "COLUMNS": "80"}).stdout
    assert max(len(line) for line in people.splitlines()) <= 80
