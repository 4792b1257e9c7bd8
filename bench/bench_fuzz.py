"""Import the 10 000-file fuzz corpus; print time, files per second, peak RSS, outcomes.

    .venv/bin/python bench/bench_fuzz.py [--count 10000] [--seed 0] [--keep DIR]

The corpus comes from ``tests/fuzz_corpus.py`` (seeded: the same files every run). The
import runs as ``vp-log import --json`` in a child process, so the peak RSS printed is the
importer's own (``ru_maxrss`` of the child), not the generator's.
"""

from __future__ import annotations

import argparse
import json
import resource
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
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vp_log_fuzz_"))
    corpus_dir = args.keep or work / "corpus"
    started = time.monotonic()
    files = write_fuzz_corpus(corpus_dir, args.count, seed=args.seed)
    print(f"corpus: {len(files)} files in {time.monotonic() - started:.1f} s ({corpus_dir})")
    env = vp_log_env(work / "data")
    vp_log = [sys.executable, "-m", "vp_log"]
    subprocess.run([*vp_log, "db", "upgrade"], env=env, check=True, capture_output=True)
    started = time.monotonic()
    command = [*vp_log, "import", str(corpus_dir), "--json"]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
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
    print(
        f"import: {summary['files']} files in {seconds:.1f} s, {len(files) / seconds:.1f} files/s"
    )
    print(f"peak RSS of the import: {peak_mb:.0f} MB")
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


if __name__ == "__main__":
    main()
