"""CLI start-up benchmark (issue 15: under 0.3 s for ``--help``, ``procedures show``,
``followup add``).

Each command runs ``--runs`` times as ``python -m vp_log ...`` in a fresh process, on a copy of
a one-study store (``store.build_store(1)``), round-robin with three references measured in the
same run: ``python -c pass`` (the interpreter alone), ``python -c "import typer"`` (the
command-line library alone) and the libraries every command that reads the store imports
(typer, SQLAlchemy's ORM, pydantic). Prints the median wall time of each and its ratio to
``import typer``, with the load average before and after.

``python bench/bench_startup.py [--runs 15] [--json-out FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from store import build_store, vp_log_command, vp_log_env


def _commands(n_runs: int) -> dict[str, list[list[str]]]:
    """Name -> the argv of each run (``followup add`` enters a new day, back from yesterday)."""
    first = date.today() - timedelta(days=n_runs)
    adds = [
        vp_log_command(
            "followup", "add", "1", "--date", (first + timedelta(days=i)).isoformat(),
            "--pain", "5", "--by", "bench", "--yes",
        )
        for i in range(n_runs)
    ]  # fmt: skip
    same = {
        "python -c pass": [sys.executable, "-c", "pass"],
        'python -c "import typer"': [sys.executable, "-c", "import typer"],
        # the floor of any command that reads the store: its libraries, imported and nothing else
        "python -c (typer, sqlalchemy.orm, pydantic)": [
            sys.executable,
            "-c",
            "import typer, sqlalchemy.orm, pydantic",
        ],
        "vp-log --help": vp_log_command("--help"),
        "vp-log --version": vp_log_command("--version"),
        "vp-log procedures show 1": vp_log_command("procedures", "show", "1"),
        "vp-log procedures list": vp_log_command("procedures", "list"),
        "vp-log config show": vp_log_command("config", "show"),
    }
    commands = {name: [argv] * n_runs for name, argv in same.items()}
    commands["vp-log followup add 1 ..."] = adds
    return commands


def _run(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    store = build_store(1)
    with tempfile.TemporaryDirectory(prefix="vp_log_startup_") as tmp:
        data_dir = Path(tmp) / "data"
        shutil.copytree(store, data_dir, symlinks=True)
        env = vp_log_env(data_dir)
        env["COLUMNS"] = "80"
        commands = _commands(args.runs)
        times: dict[str, list[float]] = {name: [] for name in commands}
        load_before = os.getloadavg()
        for _ in range(2):  # warm the page cache and the bytecode
            for argvs in commands.values():
                if "followup" not in argvs[0]:
                    _run(argvs[0], env)
        for i in range(args.runs):
            for name, argvs in commands.items():
                times[name].append(_run(argvs[i], env))
        load_after = os.getloadavg()
    medians = {name: statistics.median(t) for name, t in times.items()}
    typer_s = medians['python -c "import typer"']
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; {args.runs} runs")
    print(f"{'command':34} {'median s':>9} {'min s':>7} {'× import typer':>15}")
    for name, seconds in medians.items():
        print(f"{name:34} {seconds:9.3f} {min(times[name]):7.3f} {seconds / typer_s:15.2f}")
    if args.json_out:
        args.json_out.write_text(
            json.dumps({"load": [load_before, load_after], "runs": times}, indent=1)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
