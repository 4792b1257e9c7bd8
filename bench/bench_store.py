"""Store-growth benchmark (issues 15 and 17): what import and re-extraction cost as the store grows.

```sh
.venv/bin/python bench/bench_store.py --sizes 1000,10000,50000
```

For each size, on the store of :func:`store.build_store` (cached under ``bench/out/``):

- **import**: ``vp-log import`` of ``--batch`` further studies (four instances each, the same
  generator) into a copy of the store's database: instances/s over the command's wall time and
  its peak RSS.
- **reextract**: ``vp-log reextract`` of the whole store (on another copy of the database, the
  archive shared read-only): instances/s and peak RSS.
- **database**: the SQLite file's size, bytes per instance, and what takes the space (SQLite's
  ``dbstat``: each table and index, in bytes per instance).
- if ``bench/bench_listings.py`` or ``bench/bench_worker.py`` exist, their
  ``measure(data_dir, database_url) -> dict`` on the store, printed as they come (by the
  hook's ``show(figures)`` if it has one); ``--no-hooks`` leaves them out.

``--parts`` chooses among space, import and reextract. ``--store DIR`` (repeatable) measures a
store that an older code built (a cache folder ``store-N-VERSION``) instead of ``--sizes``: on a
copy upgraded by this code's ``vp-log db upgrade``, then VACUUMed, the archive shared; the
upgrade's time is printed. A 50 000-study store takes hours to import, and any change to the
extraction makes a new cache version: this measures the current code on it all the same.

Prints figures; it is not a timed test. The load average is printed beside them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent))

from store import (
    DEFAULT_ROOT,
    INSTANCES_PER_STUDY,
    build_store,
    database_url,
    fresh_studies,
    parse_sizes,
    vp_log_command,
    vp_log_env,
)

HOOKS = ("bench_listings", "bench_worker")
PARTS = frozenset({"space", "import", "reextract"})


_PEAK_FILE = "BENCH_STORE_PEAK_FILE"
_PEAK = (
    "import atexit, os, runpy, sys\n"
    "def _peak():\n"
    "    with open('/proc/self/status') as f:\n"
    "        kb = next(line.split()[1] for line in f if line.startswith('VmHWM:'))\n"
    f"    with open(os.environ['{_PEAK_FILE}'], 'w') as f:\n"
    "        f.write(kb)\n"
    "atexit.register(_peak)\n"
    "sys.argv[0] = 'vp-log'\n"
    "runpy.run_module('vp_log', run_name='__main__')\n"
)


def run_measured(args: list[str], env: dict[str, str]) -> tuple[float, float, str, float]:
    """Run a ``vp_log_command``; (wall seconds, peak RSS in MB, stdout, CPU seconds).

    The peak is the process's own ``VmHWM``, written as it exits: ``ru_maxrss`` of a child
    also counts the parent it was forked from (it keeps the high-water mark across exec), so
    it said this benchmark's own size. CPU seconds are user + system time of the process: on
    a machine shared with other jobs they say what the work costs, whatever the wait for a
    core.
    """
    if args[1:3] != ["-m", "vp_log"]:
        raise ValueError(f"not a vp_log command: {args}")
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as peak,
    ):
        started = time.perf_counter()
        proc = subprocess.Popen(
            [args[0], "-c", _PEAK, *args[3:]],
            env={**env, _PEAK_FILE: peak.name},
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{args[3:]} failed: {err.read().decode()[-2000:]}")
        cpu = usage.ru_utime + usage.ru_stime
        return wall, int(peak.read() or 0) / 1024, out.read().decode(), cpu


def copy_store(store: Path, dest: Path, *, share_archive: bool) -> Path:
    dest.mkdir(parents=True)
    shutil.copy2(store / "vp_log.db", dest / "vp_log.db")
    if share_archive:
        (dest / "archive").symlink_to(store / "archive")
    return dest


def space(db: Path) -> list[tuple[str, int]]:
    """(table or index, bytes) from SQLite's dbstat, biggest first ([] if not compiled in)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
        ).fetchall()
    except sqlite3.Error:
        return []
    finally:
        con.close()
    return [(str(name), int(size)) for name, size in rows]


def load_hook(name: str) -> ModuleType | None:
    path = Path(__file__).resolve().parent / f"{name}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _print_command(name: str, instances: int, wall: float, cpu: float, rss: float) -> None:
    """Two lines under 80 columns: the wall rate, then the CPU cost, peak memory and load."""
    print(f"  {name:10s} {instances:7d} inst  {wall:7.2f} s  {instances / wall:7.1f} inst/s wall")
    print(
        f"  {'':10s} CPU {cpu * 1000 / instances:5.2f} ms/inst {instances / cpu:6.0f}/CPU-s"
        f"  {rss:5.0f} MB peak  load {load_average()}"
    )


def _import(store: Path, n_studies: int, batch: int, work: Path, result: dict[str, object]) -> None:
    incoming = work / f"incoming-{n_studies}"
    files = fresh_studies(10_000_000, batch, incoming)  # indexes no store uses
    data = copy_store(store, work / f"import-{n_studies}", share_archive=False)
    wall, rss, out, cpu = run_measured(
        vp_log_command("import", "--json", str(incoming)), vp_log_env(data)
    )
    summary = json.loads(out)
    if summary["new"] != len(files):
        raise RuntimeError(f"import of the batch: {summary}")
    result["import_inst_per_s"] = round(len(files) / wall, 1)
    result["import_cpu_ms_per_inst"] = round(cpu * 1000 / len(files), 2)
    result["import_peak_rss_mb"] = round(rss, 1)
    _print_command("import", len(files), wall, cpu, rss)
    shutil.rmtree(incoming)
    shutil.rmtree(data)


def _reextract(store: Path, instances: int, work: Path, result: dict[str, object]) -> None:
    data = copy_store(store, work / f"reextract-{store.name}", share_archive=True)
    wall, rss, _out, cpu = run_measured(vp_log_command("reextract"), vp_log_env(data))
    result["reextract_inst_per_s"] = round(instances / wall, 1)
    result["reextract_cpu_ms_per_inst"] = round(cpu * 1000 / instances, 2)
    result["reextract_peak_rss_mb"] = round(rss, 1)
    _print_command("reextract", instances, wall, cpu, rss)
    shutil.rmtree(data)


def _space(store: Path, instances: int, result: dict[str, object]) -> None:
    db = store / "vp_log.db"
    size = db.stat().st_size
    result["database_bytes"] = size
    result["bytes_per_instance"] = round(size / instances)
    print(f"  database   {size / 1e6:.1f} MB  {size / instances:.0f} bytes/instance")
    parts = space(db)
    result["space"] = dict(parts)
    for name, part in parts[:12]:
        print(f"    {name:40s} {part / 1e6:8.1f} MB  {part / instances:7.0f} B/inst")


def upgraded(older: Path, work: Path) -> tuple[Path, dict[str, object]]:
    """A copy of a store that an older code built, upgraded to this code's schema by
    ``vp-log db upgrade`` and then VACUUMed (so that its size is what this schema takes), its
    archive shared read-only; and the upgrade's figures."""
    dest = copy_store(older, work / f"upgraded-{older.name}", share_archive=True)
    shutil.copy2(older / "store.json", dest / "store.json")
    t0 = time.perf_counter()
    subprocess.run(
        vp_log_command("db", "upgrade"), env=vp_log_env(dest), check=True, capture_output=True
    )
    upgrade = time.perf_counter() - t0
    before = (older / "vp_log.db").stat().st_size
    con = sqlite3.connect(dest / "vp_log.db")
    try:
        con.execute("VACUUM")
    finally:
        con.close()
    print(f"  upgraded a copy of {older} in {upgrade:.0f} s, then VACUUM (load {load_average()})")
    return dest, {"upgrade_s": round(upgrade, 1), "older_database_bytes": before}


def measure_size(
    n_studies: int,
    root: Path,
    batch: int,
    work: Path,
    *,
    hooks: bool = True,
    older: Path | None = None,
    parts: frozenset[str] = PARTS,
) -> dict[str, object]:
    """The figures of one store: built (or found) for ``n_studies``, or ``older``'s upgraded."""
    result: dict[str, object] = {}
    if older is None:
        t0 = time.perf_counter()
        store = build_store(n_studies, root)
        if (built := time.perf_counter() - t0) > 1:
            print(f"  (store built in {built:.0f} s)")
    else:
        store, result["upgraded"] = upgraded(older, work)
    instances = n_studies * INSTANCES_PER_STUDY
    result |= {"studies": n_studies, "instances": instances}
    print(f"  store {store}  (load {load_average()})")
    if "space" in parts:
        _space(store, instances, result)
    if "import" in parts:
        _import(store, n_studies, batch, work, result)
    if "reextract" in parts:
        _reextract(store, instances, work, result)

    for hook in HOOKS if hooks else ():
        module = load_hook(hook)
        if module is None:
            continue
        figures = module.measure(store, database_url(store))
        result[hook] = figures
        print(f"  {hook}: (load {load_average()})")
        if hasattr(module, "show"):  # the hook's own layout (within 80 columns)
            module.show(figures)
            continue
        for key, value in figures.items():
            print(f"    {key}: {value}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000", help="store sizes, in studies")
    parser.add_argument("--batch", type=int, default=250, help="studies imported per size")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="where stores are cached")
    parser.add_argument("--json-out", type=Path, help="write every figure here as JSON")
    parser.add_argument(
        "--no-hooks",
        action="store_true",
        help="import, reextract and the database only (not the listing and worker hooks)",
    )
    parser.add_argument(
        "--store",
        type=Path,
        action="append",
        help="a store built by store.py of an older code (its cache folder), measured on an "
        "upgraded copy instead of --sizes (repeatable)",
    )
    parser.add_argument(
        "--parts", default="space,import,reextract", help="of space, import, reextract"
    )
    args = parser.parse_args()
    parts = frozenset(args.parts.split(","))
    if not parts <= PARTS:
        parser.error(f"--parts: {', '.join(sorted(parts - PARTS))} unknown (allowed: space, "
                     "import, reextract)")  # fmt: skip
    older = args.store or []
    for folder in older:
        if not (folder / "store.json").is_file():
            parser.error(f"--store {folder}: not a store built by bench/store.py (no store.json)")
    stores = [(json.loads((f / "store.json").read_text())["studies"], f) for f in older]
    stores = stores or [(n, None) for n in parse_sizes(parser, args.sizes)]
    results = []
    args.root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.root, prefix="bench-store-") as tmp:
        for n, folder in stores:
            print(f"{n} studies ({n * INSTANCES_PER_STUDY} instances):")
            figures = measure_size(
                n, args.root, args.batch, Path(tmp), hooks=not args.no_hooks, older=folder,
                parts=parts,
            )  # fmt: skip
            results.append(figures)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
