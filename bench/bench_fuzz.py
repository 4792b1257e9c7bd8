"""Import the 10 000-file fuzz corpus; print time, files per second, peak RSS, outcomes.

    .venv/bin/python bench/bench_fuzz.py [--count 10000] [--seed 0] [--keep DIR]
                                         [--reference 300]

The corpus comes from ``tests/fuzz_corpus.py`` (seeded: the same files every run). The
import runs as ``vp-log import --json`` in a child process, so the peak RSS printed is the
importer's own (``ru_maxrss`` of the child), not the generator's. The reference, measured in
the same run just before, is the import of ``--reference`` unmutated files of the same
bases: the fuzz rate and peak are also printed as ratios to it (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from store import vp_log_env  # noqa: E402

from fuzz_corpus import write_fuzz_corpus  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="write the corpus here and keep it")
    parser.add_argument("--reference", type=int, default=300, help="unmutated files (0: none)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vp_log_fuzz_"))
    corpus_dir = args.keep or work / "corpus"
    started = time.monotonic()
    files = write_fuzz_corpus(corpus_dir, args.count, seed=args.seed)
    print(f"corpus: {len(files)} files in {time.monotonic() - started:.1f} s ({corpus_dir})")
    ref_rate = ref_peak = 0.0
    if args.reference:
        good = write_fuzz_corpus(work / "good", args.reference, seed=args.seed, good_every=1)
        ref_seconds, ref_peak, _ = _import(work / "ref-data", work / "good")
        ref_rate = len(good) / ref_seconds
        print(
            f"reference: {len(good)} unmutated files in {ref_seconds:.1f} s, "
            f"{ref_rate:.1f} files/s, peak RSS {ref_peak:.0f} MB"
        )
    seconds, peak_mb, proc = _import(work / "data", corpus_dir)
    if proc.returncode != 0:
        print(proc.stderr[-2000:])
        raise SystemExit(f"vp-log import exited with {proc.returncode}")
    summary = json.loads(proc.stdout)
    reasons = Counter(
        r["reason"].split(":")[0] if r["reason"].startswith("limit") else r["reason"][:40]
        for r in summary["rejected"]
    )
    by_mutation: dict[str, Counter[str]] = {}
    rejected = {r["path"] for r in summary["rejected"]}
    for f in files:
        outcome = "rejected" if str(f.path) in rejected else "stored"
        by_mutation.setdefault(f.mutation, Counter())[outcome] += 1
    rate = len(files) / seconds
    print(
        f"import: {summary['files']} files in {seconds:.1f} s, {rate:.1f} files/s"
        + (f" ({rate / ref_rate:.2f} x the reference)" if ref_rate else "")
    )
    print(
        f"peak RSS of the import: {peak_mb:.0f} MB"
        + (f" ({peak_mb / ref_peak:.2f} x the reference)" if ref_peak else "")
    )
    print(
        f"outcomes: {summary['new']} new, {summary['duplicate']} duplicate, "
        f"{len(summary['rejected'])} rejected, {len(summary['flagged'])} stored with flags, "
        f"{len(summary['studies'])} studies"
    )
    print("tracebacks on stderr:", proc.stderr.count("Traceback"))
    print("rejection reasons:")
    for reason, n in reasons.most_common():
        print(f"  {n:6d}  {reason}")
    print("by mutation (stored / rejected):")
    for name, counts in sorted(by_mutation.items()):
        print(f"  {name:18s} {counts['stored']:6d} {counts['rejected']:6d}")


def _import(data: Path, folder: Path) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """``vp-log import --json folder`` into a new store: (seconds, its own peak RSS MB, result).

    The peak is the import process's own (``wait4``), not the largest of all children so far.
    """
    env = vp_log_env(data)
    vp_log = [sys.executable, "-m", "vp_log"]
    subprocess.run([*vp_log, "db", "upgrade"], env=env, check=True, capture_output=True)
    command = [*vp_log, "import", str(folder), "--json"]
    out_path, err_path = data.with_name(data.name + ".out"), data.with_name(data.name + ".err")
    with out_path.open("w") as out, err_path.open("w") as err:
        started = time.monotonic()
        child = subprocess.Popen(command, env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    result = subprocess.CompletedProcess(
        command, child.returncode, out_path.read_text(), err_path.read_text()
    )
    return seconds, usage.ru_maxrss / 1024, result


if __name__ == "__main__":
    main()
