"""Where a command's start-up CPU goes (issue 15): libraries' imports, vp_log's module bodies,
running.

Runs ``vp-log ARGS`` ``--runs`` times in fresh interpreters on a copy of the one-study store
(``store.build_store(1)``), each under a CPU-time sampler (``SIGPROF`` every 0.5 ms), and sorts
the samples: inside the import of a library (the outermost library module being executed:
``import sqlalchemy`` holds its ORM too), inside a vp_log module's body (pydantic model and
table construction), or running (by the innermost vp_log function). Prints each part's share.

``python bench/startup_profile.py [--runs 10] procedures show 1``; in the arguments, ``{date}``
is a new day each run (``followup add 1 --date {date} --pain 5 --yes`` enters a new entry).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

from bench_startup import startup_env
from store import build_store

#: Run in the child: samples the CPU stack, then writes ``count<TAB>part`` lines to argv[1].
_SAMPLER = r"""
import collections, signal, sys

parts = collections.Counter()


def part(frame):
    stack = []
    while frame is not None:
        stack.append(frame)
        frame = frame.f_back
    stack.reverse()  # outermost first
    body = None
    for f in stack:
        name = f.f_globals.get("__name__", "")
        if f.f_code.co_name != "<module>" or name in ("__main__", "vp_log.__main__", "runpy"):
            continue
        if name.startswith("vp_log"):
            body = name
        elif not name.startswith(("importlib", "_frozen")):
            return "import " + name.split(".")[0]
    if body is not None:
        return "module body " + body
    for f in reversed(stack):
        name = f.f_globals.get("__name__", "")
        if name.startswith("vp_log"):
            return f"run {name}.{f.f_code.co_name}"
    return "run (outside vp_log)"


signal.signal(signal.SIGPROF, lambda sig, frame: parts.update([part(frame)]))
signal.setitimer(signal.ITIMER_PROF, 0.0005, 0.0005)
out, sys.argv = sys.argv[1], ["vp-log", *sys.argv[2:]]
try:
    from vp_log.cli import main

    main()
except SystemExit:
    pass
finally:
    signal.setitimer(signal.ITIMER_PROF, 0, 0)
    with open(out, "a", encoding="utf-8") as fh:
        fh.writelines(f"{count}\t{name}\n" for name, count in parts.items())
"""


_GROUPS = {"import": "libraries' imports", "module": "vp_log's module bodies", "run": "running"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "args", nargs=argparse.REMAINDER, help="the vp-log command: procedures show 1"
    )
    args = parser.parse_args()
    if not args.args:
        parser.error("give the vp-log command to profile: procedures show 1")
    totals: collections.Counter[str] = collections.Counter()
    with tempfile.TemporaryDirectory(prefix="vp_log_profile_") as tmp:
        data_dir = Path(tmp) / "data"
        shutil.copytree(build_store(1), data_dir, symlinks=True)
        env = startup_env(data_dir)
        out = Path(tmp) / "samples.tsv"
        for run in range(args.runs + 1):  # the first run writes the bytecode: not counted
            day = (date.today() - timedelta(days=args.runs + 1 - run)).isoformat()
            argv = [a.replace("{date}", day) for a in args.args]
            out.unlink(missing_ok=True)
            done = subprocess.run(
                [sys.executable, "-c", _SAMPLER, str(out), *argv],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise RuntimeError(f"vp-log {' '.join(argv)} failed: {done.stderr[-2000:]}")
            if run == 0:
                continue
            for line in out.read_text(encoding="utf-8").splitlines():
                samples, name = line.split("\t", 1)
                totals[name] += int(samples)
    whole = sum(totals.values())
    groups: collections.Counter[str] = collections.Counter()
    for name, count in totals.items():
        groups[_GROUPS[name.split(" ")[0]]] += count
    print(f"vp-log {' '.join(args.args)}: {whole} samples of CPU time over {args.runs} runs")
    print(", ".join(f"{g}: {c * 100 / whole:.1f} %" for g, c in groups.most_common()))
    for name, count in totals.most_common(args.top):
        print(f"{count * 100 / whole:5.1f} %  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
