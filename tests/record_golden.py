"""The public JSON of every record built from ../shared/samples and the generated cases.

``tests/data/record_golden.json`` was written by this module with the code at commit
``00c9c9a`` (main before issue 8 typed the record), so that the typed record can be held to the
JSON users saw before: ``tests/unit/test_record_golden.py`` asserts every field is the same,
allowing only added fields. Regenerate it only for a deliberate change of the public JSON,
and say so in the commit:

    .venv/bin/python tests/record_golden.py tests/data/record_golden.json
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from conftest import SAMPLES
from vp_log.cli import app
from vp_log.samples import write_all_cases

GOLDEN = Path(__file__).parent / "data" / "record_golden.json"
CASE_SEEDS = (0, 11)

# Fields that depend on when or in which order the files were imported, not on their content.
VOLATILE = ("id", "last_received_at")

JsonObject = dict[str, Any]


def _invoke(env: dict[str, str], *args: str) -> str:
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    if result.exit_code != 0:
        msg = f"vp-log {' '.join(args)} failed ({result.exit_code}): {result.output}"
        raise RuntimeError(msg)
    return result.stdout


def build_public_records(work: Path) -> dict[str, JsonObject]:
    """Import the samples and the generated cases into a fresh SQLite file; every record's
    ``procedures show --json``, keyed by Study Instance UID."""
    cases = work / "cases"
    for seed in CASE_SEEDS:
        write_all_cases(cases / f"seed-{seed}", seed=seed, size="small")
    env = {"VP_LOG_DATA_DIR": str(work / "data"), "VP_LOG_DATABASE_URL": "", "VP_LOG_CONFIG": ""}
    _invoke(env, "import", "--json", str(SAMPLES), str(cases))
    listed = json.loads(_invoke(env, "procedures", "list", "--all", "--json"))
    records: dict[str, JsonObject] = {}
    for item in listed:
        uid = item["study_instance_uid"]
        shown: JsonObject = json.loads(_invoke(env, "procedures", "show", "--json", uid))
        records[uid] = shown
    return dict(sorted(records.items()))


def without_volatile(records: dict[str, JsonObject]) -> dict[str, JsonObject]:
    return {uid: {k: v for k, v in r.items() if k not in VOLATILE} for uid, r in records.items()}


def json_differences(old: Any, new: Any, where: str) -> list[str]:
    """Where ``new`` differs from ``old`` other than by fields added to objects."""
    if isinstance(old, dict):
        if not isinstance(new, dict):
            return [f"{where}: was an object, now {new!r}"]
        found: list[str] = []
        for key, value in old.items():
            if key not in new:
                found.append(f"{where}.{key}: missing (was {value!r})")
            else:
                found.extend(json_differences(value, new[key], f"{where}.{key}"))
        return found
    if isinstance(old, list):
        if not isinstance(new, list) or len(new) != len(old):
            return [f"{where}: was {old!r}, now {new!r}"]
        return [
            d
            for i, (o, n) in enumerate(zip(old, new, strict=True))
            for d in json_differences(o, n, f"{where}[{i}]")
        ]
    if type(old) is not type(new) or old != new:
        return [f"{where}: was {old!r}, now {new!r}"]
    return []


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        records = without_volatile(build_public_records(Path(tmp)))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(records, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"{len(records)} records written to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else GOLDEN)
