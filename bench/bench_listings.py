"""Listing benchmark (issue 15): what the listings cost as the store grows.

```sh
.venv/bin/python bench/bench_listings.py --sizes 10000,100000 [--base DIR] [--json-out FILE]
    [--repeat 3]
```

Each listing (``procedures list``, ``followup due``, ``followup list``, ``audit``, ``dose
alerts``, ``quarantine list``; table at 80 columns and ``--json``) runs as a person runs it,
a fresh ``vp-log`` process with its output to a file, the fastest of ``--repeat`` runs
(3; the machine is shared); printed: wall and CPU seconds, with two
references measured in the same run: the same listing's CPU seconds on an empty store and
``vp-log --help`` (the start-up every command pays); the process's peak RSS (``VmHWM``) and
the output's size. Targets: under 0.5 s at 10 000 studies, memory flat from 10 000 to
100 000.

The stores: ``--base`` (default :func:`store.build_store` of :data:`BASE` studies, really
imported: the store benchmark's templates) is copied and grown to ``N`` procedure records,
record ``i`` being base record ``i % BASE`` with its own Study Instance UID, accession,
patient and study date (spread over the ten years before today, so that the worklist has
due and overdue time points); importing 400 000 instances would take hours here, and a
listing reads nothing but the records. Then follow-up entries (baseline to 12 months where
the date has passed, about one in four missed, a death now and then), an audit event per
entry (as ``followup add`` writes) and :data:`QUARANTINED` quarantined files are added.
``vp-log db upgrade`` of the code under test runs on the copy. Cached under ``--root``.

``measure(data_dir, database_url)`` is what ``bench_store.py`` calls on its own stores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from store import (  # noqa: E402
    DEFAULT_ROOT,
    build_store,
    database_url,
    parse_sizes,
    vp_log_command,
    vp_log_env,
)

BASE = 200
"""Studies of the imported base store (every one a distinct generated study)."""
QUARANTINED = 2000
TARGET_S = 0.5
TIMEOUT_S = 900.0
_FORMAT = "1"  # bump when this file changes what it builds
TIMEPOINTS = (("baseline", -2), ("1w", 7), ("1m", 30), ("3m", 90), ("6m", 182), ("12m", 365))

#: (label, arguments): the listings, each as a table (80 columns) and as JSON.
LISTINGS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("procedures list", ("procedures", "list")),
    ("procedures list --json", ("procedures", "list", "--json")),
    ("followup due", ("followup", "due")),
    ("followup due --json", ("followup", "due", "--json")),
    ("followup list", ("followup", "list")),
    ("followup list --json", ("followup", "list", "--json")),
    ("audit", ("audit",)),
    ("audit --json", ("audit", "--json")),
    ("dose alerts", ("dose", "alerts")),
    ("dose alerts --json", ("dose", "alerts", "--json")),
    ("quarantine list", ("quarantine", "list")),
    ("quarantine list --json", ("quarantine", "list", "--json")),
)


# --- measuring -------------------------------------------------------------------------------


def _vm_hwm_kb(pid: int) -> int | None:
    """The process's peak resident set (``VmHWM``) so far, in KB; None once it is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def run_measured(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    """One command, its output to a file: wall s, CPU s (user + system), peak RSS MB of the
    process itself, output MB; or the error.

    The peak is ``VmHWM``, read every 5 ms until the process exits (the last reading counts:
    ``ru_maxrss`` would include the benchmark's own memory, which the child has between fork
    and exec)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=err)
        deadline = started + TIMEOUT_S
        hwm = 0
        while True:
            reading = _vm_hwm_kb(proc.pid)
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            hwm = reading or hwm
            if time.perf_counter() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                return {"wall_s": None, "error": f"killed after {TIMEOUT_S:.0f} s"}
            time.sleep(0.005)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        size = out.tell()
        if proc.returncode != 0:
            err.seek(0)
            return {"wall_s": None, "error": err.read().decode()[-300:].strip()}
        return {
            "wall_s": round(wall, 3),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
            "peak_rss_mb": round(hwm / 1024, 1),
            "output_mb": round(size / 1e6, 2),
        }


def _fastest(runs: list[dict[str, Any]]) -> dict[str, Any]:
    done = [r for r in runs if r["wall_s"] is not None]
    return min(done, key=lambda r: r["cpu_s"]) if done else runs[0]


def measure(data_dir: Path, database_url: str, repeat: int = 1) -> dict[str, Any]:
    """Every listing on the store in ``data_dir`` (read only), with two references measured
    in the same run: ``vp-log --help`` (the start-up every command pays; fastest of three)
    and each listing on an empty store (the same schema: what the listing costs whatever
    the store holds). The machine is shared: CPU seconds say more than wall seconds, and
    the fastest of ``repeat`` runs of each (store and empty alike) less than one."""
    env = vp_log_env(Path(data_dir)) | {"VP_LOG_DATABASE_URL": database_url, "COLUMNS": "80"}
    figures: dict[str, Any] = {"load_average": round(os.getloadavg()[0], 2), "repeat": repeat}

    def fastest(args: list[str], environment: dict[str, str], times: int) -> dict[str, Any]:
        return _fastest([run_measured(args, environment) for _ in range(times)])

    figures["vp-log --help"] = fastest(vp_log_command("--help"), env, max(3, repeat))
    with tempfile.TemporaryDirectory(prefix="bench-listings-empty-") as tmp:
        empty_env = vp_log_env(Path(tmp)) | {"COLUMNS": "80"}
        subprocess.run(
            vp_log_command("db", "upgrade"), env=empty_env, capture_output=True, check=True
        )
        empty = {
            label: fastest(vp_log_command(*args), empty_env, repeat) for label, args in LISTINGS
        }
    for label, args in LISTINGS:
        result = fastest(vp_log_command(*args), env, repeat)
        if result["wall_s"] is not None and empty[label]["wall_s"] is not None:
            result["empty_cpu_s"] = empty[label]["cpu_s"]
            result["empty_peak_rss_mb"] = empty[label]["peak_rss_mb"]
        figures[label] = result
    return figures


# --- the stores ------------------------------------------------------------------------------


def _replace(text: str, key: str, old: Any, new: Any) -> str:
    """``text`` (a stored record) with its top-level ``key`` set from ``old`` to ``new``."""
    before = f'"{key}": {json.dumps(old)}'
    if before not in text:
        raise RuntimeError(f"base record has no {before}")
    return text.replace(before, f'"{key}": {json.dumps(new)}', 1)


def _grow(db: Path, n: int, today: dt.date, rng: random.Random) -> list[tuple[int, str, str]]:
    """Procedure records up to ``n`` (copies of the base ones); ``(id, study date, type)``."""
    con = sqlite3.connect(db)
    own = ("id", "study_instance_uid", "accession_number", "patient_id", "study_date", "record")
    # The rest is copied from the template: the type (first), status, ..., dose columns.
    table = con.execute("PRAGMA table_info(procedures)").fetchall()
    rest = [name for _, name, *_ in table if name not in (*own, "procedure_type")]
    columns = ", ".join(["procedure_type", *rest])
    base = con.execute(f"SELECT id, {columns}, record FROM procedures ORDER BY id").fetchall()
    records = [json.loads(row[-1]) for row in base]
    made = [
        (row[0], rec.get("study_date") or "", row[1])
        for row, rec in zip(base, records, strict=True)
    ]
    next_id = max(r[0] for r in base) + 1
    for start in range(len(base), n, 2000):
        rows = []
        for i in range(start, min(start + 2000, n)):
            template, record = base[i % len(base)], records[i % len(base)]
            text = template[-1]
            day = (today - dt.timedelta(days=rng.randint(0, 3650))).isoformat()
            values = {
                "study_instance_uid": f"2.25.{7_000_000_000 + i}",
                "accession_number": f"LA{i:08d}",
                "patient_id": f"LP{i * 7 // 10:08d}",  # some patients have two procedures
                "patient_name": f"LISTING^PATIENT{i}",
                "study_date": day,
            }
            for key, value in values.items():
                text = _replace(text, key, record[key], value)
            rows.append(
                (
                    next_id,
                    values["study_instance_uid"],
                    values["accession_number"],
                    values["patient_id"],
                    day,
                    *template[1:-1],
                    text,
                )
            )
            made.append((next_id, day, template[1]))
            next_id += 1
        con.executemany(
            "INSERT INTO procedures (id, study_instance_uid, accession_number, patient_id, "
            f"study_date, {columns}, record) VALUES ({', '.join('?' * len(rows[0]))})",
            rows,
        )
        con.commit()
    con.close()
    return made


def _followup(db: Path, procedures: list[tuple[int, str, str]], today: dt.date) -> int:
    """Follow-up entries (version 1 each) and their audit events; returns how many."""
    rng = random.Random(15)
    con = sqlite3.connect(db)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    entry_id = con.execute("SELECT COALESCE(MAX(id), 0) FROM followup_entries").fetchone()[0]
    entries, versions, audit = [], [], []
    for pid, day_text, procedure_type in procedures:
        if procedure_type in ("other", "unclassified") or not day_text:
            continue
        day = dt.date.fromisoformat(day_text)
        died = rng.random() < 0.01
        for name, offset in TIMEPOINTS:
            when = day + dt.timedelta(days=offset + rng.randint(-1, 1))
            if when > today or (name != "baseline" and rng.random() < 0.25):
                continue
            entry_id += 1
            complications = "[]"
            if died and name == "1m":
                event = {"type": "death", "severity": "F", "date": when.isoformat()}
                complications = json.dumps([event])
            entries.append((entry_id, now, "bench"))
            versions.append(
                (
                    entry_id,
                    1,
                    "bench",
                    now,
                    pid,
                    when.isoformat(),
                    name,
                    0,
                    0,
                    (when - day).days,
                    round(rng.uniform(0, 10), 1),
                    "[]",
                    complications,
                )
            )
            details = {"version": 1, "procedure_id": pid, "timepoint": name}
            audit.append(
                (now, "bench", "followup.add", "followup", str(entry_id), json.dumps(details))
            )
            if died and name == "1m":
                break
    con.executemany(
        "INSERT INTO followup_entries (id, created_at, created_by) VALUES (?, ?, ?)", entries
    )
    con.executemany(
        "INSERT INTO followup_versions (entry_id, version, entered_by, entered_at, procedure_id, "
        "entry_date, timepoint, timepoint_inferred, out_of_window, days_after, pain, "
        "new_fractures, complications) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        versions,
    )
    con.executemany(
        "INSERT INTO audit_log (at, who, action, entity, entity_id, details) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        audit,
    )
    con.commit()
    con.close()
    return len(versions)


def _quarantine(data_dir: Path) -> None:
    from vp_log.spool import QuarantineReason, format_reason

    folder = data_dir / "quarantine"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(QUARANTINED):
        name = f"{1_700_000_000_000_000_000 + i:020d}-{i:06d}-{i:032x}.dcm"
        (folder / name).write_bytes(b"\0" * 132)
        reason = QuarantineReason(
            reason=f"not a DICOM file (bench {i}): no DICM prefix",
            spool_name=name,
            quarantined_at="2026-01-01T00:00:00+00:00",
            details="Traceback (most recent call last):\n  ...\n" * 5,
        )
        (folder / f"{name}.reason.txt").write_text(format_reason(reason))
        stamp = 1_767_225_600 + i * 60
        os.utime(folder / f"{name}.reason.txt", (stamp, stamp))


def schema_version() -> str:
    """A digest of the migrations of the vp_log this runs (``PYTHONPATH`` may point at
    another checkout than this file's): a store is cached per schema."""
    import vp_log

    digest = hashlib.sha256(_FORMAT.encode())
    for path in sorted((Path(vp_log.__file__).parent / "db" / "migrations").rglob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:12]


def build_listing_store(n: int, root: Path, base: Path | None = None) -> Path:
    """A data folder with ``n`` procedure records, follow-up, audit and quarantine (cached)."""
    base = base or build_store(BASE, root)
    target = root / f"listings-{n}-{base.name}-{schema_version()}"
    if (target / "listings.json").exists():
        return target
    partial = root / f".building-{target.name}-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    started = time.perf_counter()
    shutil.copy2(base / "vp_log.db", partial / "vp_log.db")
    (partial / "archive").symlink_to((base / "archive").resolve())
    today = dt.date.today()
    procedures = _grow(partial / "vp_log.db", n, today, random.Random(n))
    entries = _followup(partial / "vp_log.db", procedures, today)
    _quarantine(partial)
    done = subprocess.run(
        vp_log_command("db", "upgrade"),
        env=vp_log_env(partial),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"vp-log db upgrade failed: {done.stderr[-2000:]}")
    meta = {
        "procedures": len(procedures),
        "followup_entries": entries,
        "quarantined": QUARANTINED,
        "base": str(base),
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    (partial / "listings.json").write_text(json.dumps(meta, indent=1))
    if target.exists():
        shutil.rmtree(partial)
    else:
        partial.rename(target)
    return target


# --- the command line ------------------------------------------------------------------------


def show(figures: dict[str, Any]) -> None:
    """The figures of :func:`measure` as a table within 80 columns (``bench_store`` calls it)."""
    ref = figures["vp-log --help"]
    print(
        f"load average {figures['load_average']:.1f}; fastest of {figures.get('repeat', 1)};"
        f" vp-log --help {ref['wall_s']:.2f} s wall,"
        f" {ref['cpu_s']:.2f} s CPU, {ref['peak_rss_mb']:.0f} MB"
    )
    print(
        f"{'listing':<24} {'wall s':>7} {'CPU s':>6} {'empty':>6} {'CPU-empty':>9}"
        f" {'RSS MB':>7} {'empty':>6} {'out MB':>7}"
    )
    for label, _ in LISTINGS:
        r = figures[label]
        if r["wall_s"] is None:
            print(f"{label:<24} {r['error'][:55]}")
            continue
        empty_cpu = r.get("empty_cpu_s", float("nan"))
        print(
            f"{label:<24} {r['wall_s']:7.2f} {r['cpu_s']:6.2f} {empty_cpu:6.2f}"
            f" {r['cpu_s'] - empty_cpu:9.2f} {r['peak_rss_mb']:7.1f}"
            f" {r.get('empty_peak_rss_mb', float('nan')):6.1f} {r['output_mb']:7.2f}"
        )


def _print(n: int, meta: dict[str, Any], figures: dict[str, Any]) -> None:
    print(
        f"\n{n} studies: {meta['procedures']} records, {meta['followup_entries']} follow-up "
        f"entries, {meta['quarantined']} quarantined files"
    )
    show(figures)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000", help="store sizes, in studies")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="where stores are cached")
    parser.add_argument("--base", type=Path, help="the imported store to grow (a data folder)")
    parser.add_argument("--json-out", type=Path, help="write every figure here as JSON")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each listing; the fastest counts"
    )
    args = parser.parse_args()
    sizes = parse_sizes(parser, args.sizes)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    results = []
    for n in sizes:
        t0 = time.perf_counter()
        data = build_listing_store(n, args.root, args.base)
        if time.perf_counter() - t0 > 1:
            print(f"(store of {n} built in {time.perf_counter() - t0:.0f} s: {data})")
        meta = json.loads((data / "listings.json").read_text())
        figures = measure(data, database_url(data), args.repeat)
        _print(n, meta, figures)
        results.append({"studies": n, **meta, "figures": figures})
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
