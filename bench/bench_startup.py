"""CLI start-up benchmark (issue 15: under 0.3 s for ``--help``, ``procedures show``,
``followup add``).

Each command runs ``--runs`` times as ``python -m vp_log ...`` in a fresh process, on a copy of
a one-study store (``store.build_store(1)``), round-robin with references measured in the same
run: ``python -c pass`` (the interpreter alone), ``python -c "import typer"`` (the
command-line library alone), the libraries every command that reads the store imports (typer
with the pydantic it validates options with, SQLAlchemy's ORM), SQLAlchemy without its ORM,
and those with pydantic-settings and rich's table (all the libraries of ``procedures show``).
Prints the median wall time of each, its median CPU time (user + system: steadier than the
wall time on a machine shared with other work) and the CPU ratio to ``import typer``, with the
load average before and after.

``--before SRC`` (the ``src`` of an older checkout: ``git archive COMMIT src | tar -x -C
/tmp/before`` and ``--before /tmp/before/src``) runs every ``vp-log`` command with those
sources too (``PYTHONPATH``), on a one-study store that version imports itself, in the same
round-robin, so that before and after are measured at the same load.

Bytecode is cached as for an installed package (``PYTHONDONTWRITEBYTECODE`` is dropped from
the commands' environment): the warm-up runs write it, the timed runs read it.

``python bench/bench_startup.py [--runs 15] [--before SRC] [--json-out FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from store import build_store, fresh_studies, vp_log_command, vp_log_env

#: The commands of issue 15's target, with the others measured beside them.
VP_LOG_COMMANDS = (
    ("vp-log --help", ("--help",)),
    ("vp-log --version", ("--version",)),
    ("vp-log procedures show 1", ("procedures", "show", "1")),
    ("vp-log procedures list", ("procedures", "list")),
    ("vp-log config show", ("config", "show")),
)
REFERENCES = {
    "python -c pass": "pass",
    'python -c "import typer"': "import typer",
    # the floor of any command that reads the store: its libraries, imported and nothing else
    # (typer validates options with pydantic: typer._adapters imports it)
    "python -c (typer, sqlalchemy.orm, pydantic)": "import typer, sqlalchemy.orm, pydantic",
    "python -c (typer, sqlalchemy, pydantic)": "import typer, sqlalchemy, pydantic",
    # ... and what every such command also needs: the settings' library, rich's table
    "python -c (... + pydantic_settings, rich.table)": (
        "import typer, sqlalchemy.orm, pydantic, pydantic_settings, rich.console, rich.table"
    ),
}


def _followup_adds(n_runs: int) -> list[list[str]]:
    """``followup add`` on a new day each run, back from yesterday."""
    first = date.today() - timedelta(days=n_runs)
    return [
        vp_log_command(
            "followup", "add", "1", "--date", (first + timedelta(days=i)).isoformat(),
            "--pain", "5", "--by", "bench", "--yes",
        )
        for i in range(n_runs)
    ]  # fmt: skip


def startup_env(data_dir: Path, src: Path | None = None) -> dict[str, str]:
    """The environment of a timed ``vp-log`` command on ``data_dir`` (80 columns; ``src``:
    another vp_log's sources first on the path)."""
    env = vp_log_env(data_dir) | {"COLUMNS": "80"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed: bytecode cached
    if src is not None:  # another vp_log's sources (``--before``) first on the path
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), env.get("PYTHONPATH")]))
    return env


def _before_store(src: Path, work: Path) -> Path:
    """A data folder holding study 0 of the benchmark stores, imported by ``src``'s vp_log
    (whose schema may be older than this checkout's)."""
    incoming = work / "before-incoming"
    fresh_studies(0, 1, incoming)
    data_dir = work / "before-data"
    done = subprocess.run(
        vp_log_command("import", "--json", str(incoming)),
        env=startup_env(data_dir, src),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"--before {src}: vp-log import failed: {done.stderr[-2000:]}")
    return data_dir


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = (after.ru_utime - used.ru_utime) + (after.ru_stime - used.ru_stime)
    return seconds, cpu


def _print(times: dict[str, list[tuple[float, float]]], before: bool) -> None:
    wall = {name: statistics.median(w for w, _ in t) for name, t in times.items()}
    cpu = {name: statistics.median(c for _, c in t) for name, t in times.items()}
    typer_cpu = cpu['python -c "import typer"']
    print(f"{'command':44} {'wall s':>7} {'min s':>6} {'CPU s':>6} {'CPU × typer':>12}")
    for name, runs in times.items():
        if not name.startswith("before: "):
            fastest = min(w for w, _ in runs)
            print(
                f"{name:44} {wall[name]:7.3f} {fastest:6.3f} {cpu[name]:6.3f}"
                f" {cpu[name] / typer_cpu:12.2f}"
            )
    if before:
        print(f"\n{'CPU s (wall s)':44} {'before':>15} {'after':>15} {'after/before':>13}")
        for name in times:
            then = f"before: {name}"
            if then in times:
                print(
                    f"{name:44} {cpu[then]:6.3f} ({wall[then]:6.3f}) {cpu[name]:6.3f}"
                    f" ({wall[name]:6.3f}) {cpu[name] / cpu[then]:13.2f}"
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--before", type=Path, metavar="SRC")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    if args.before is not None and not (args.before / "vp_log" / "__init__.py").is_file():
        parser.error(f"--before {args.before}: no vp_log package in that folder")
    store = build_store(1)
    with tempfile.TemporaryDirectory(prefix="vp_log_startup_") as tmp:
        data_dir = Path(tmp) / "data"
        shutil.copytree(store, data_dir, symlinks=True)
        env = startup_env(data_dir)
        # name -> (the argv of each run, its environment)
        commands: dict[str, tuple[list[list[str]], dict[str, str]]] = {
            name: ([[sys.executable, "-c", code]] * args.runs, env)
            for name, code in REFERENCES.items()
        }
        versions: list[tuple[str, dict[str, str]]] = [("", env)]
        if args.before is not None:
            src = args.before.resolve()
            versions.append(("before: ", startup_env(_before_store(src, Path(tmp)), src)))
        for name, argv in VP_LOG_COMMANDS:
            for prefix, version_env in versions:
                commands[prefix + name] = ([vp_log_command(*argv)] * args.runs, version_env)
        for prefix, version_env in versions:
            commands[f"{prefix}vp-log followup add 1 ..."] = (
                _followup_adds(args.runs),
                version_env,
            )
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        load_before = os.getloadavg()
        for _ in range(2):  # warm the page cache and write the bytecode
            for argvs, run_env in commands.values():
                if "followup" not in argvs[0]:
                    _run(argvs[0], run_env)
        for i in range(args.runs):
            for name, (argvs, run_env) in commands.items():
                times[name].append(_run(argvs[i], run_env))
        load_after = os.getloadavg()
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; {args.runs} runs")
    if args.before is not None:
        print(f"before: {args.before} (round-robin with this checkout)")
    _print(times, args.before is not None)
    if args.json_out:
        args.json_out.write_text(
            json.dumps({"load": [load_before, load_after], "runs_wall_cpu": times}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
