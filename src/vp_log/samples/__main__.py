"""``python -m vp_log.samples``: write generated cases or benchmark data, say what was written.

Examples::

    python -m vp_log.samples vp-two-level out/vp --seed 1
    python -m vp_log.samples all out/cases --size realistic
    python -m vp_log.samples bench A out/bench-a
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from vp_log.samples import write_all_cases, write_bench_set, write_case
from vp_log.samples.manifest import CaseManifest, CaseName, Size

_CASE_HELP = {
    CaseName.VP_TWO_LEVEL.value: "two-level bipedicular vertebroplasty T12, L1 (XA)",
    CaseName.KP_ONE_LEVEL.value: "one-level balloon kyphoplasty L2 (RF)",
    CaseName.SACROPLASTY_BILATERAL.value: "bilateral short-axis sacroplasty (XA)",
    CaseName.NON_AUGMENTATION.value: "lumbar facet joint injection, not augmentation (RF)",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m vp_log.samples",
        description=(
            "Write generated DICOM studies (vertebroplasty, kyphoplasty, sacroplasty, a "
            "non-augmentation control) or benchmark data. See dicom_samples/README.md."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="CASE|all|bench")
    for name, help_text in [*_CASE_HELP.items(), ("all", "every case, each in OUT_DIR/<case>/")]:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("out_dir", type=Path, metavar="OUT_DIR")
        p.add_argument("--seed", type=int, default=0, help="identity/UID/time seed (default 0)")
        p.add_argument(
            "--size",
            choices=[s.value for s in Size],
            default=Size.SMALL.value,
            help="small: 64x64, cine 4 frames; realistic: 512x512, cine 60 frames",
        )
        p.add_argument("--json", action="store_true", help="print the manifest(s) as JSON")
    bench = sub.add_parser("bench", help="benchmark data set A, B or C (issue 2)")
    bench.add_argument("set_name", choices=["A", "B", "C"], metavar="A|B|C")
    bench.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    bench.add_argument("--seed", type=int, default=0)
    return parser


def _describe(manifest: CaseManifest) -> str:
    lines = [f"{manifest.case.value}: {manifest.instance_count} files in {manifest.out_dir}"]
    for f in manifest.files:
        frames = f" {f.number_of_frames} frame(s) {f.rows}x{f.columns}" if f.rows else ""
        lines.append(f"  {f.path.name:24} {f.role.value:5}{frames} {f.size_bytes} bytes")
    levels = ", ".join(
        f"{lv.level} {lv.cement_ml:g} ml {lv.approach or ''} {lv.side or ''}".strip()
        for lv in manifest.levels
    )
    lines += [
        f"  study {manifest.study_instance_uid}  accession {manifest.accession_number}",
        f"  expected: {manifest.procedure_type}; levels: {levels or 'none'}; "
        f"total cement: {manifest.total_cement_ml}",
        f"  dose: fluoro {manifest.fluoro_time_s:g} s, DAP {manifest.dap_gy_cm2:g} Gy·cm², "
        f"Ka,r {manifest.ka_r_mgy:g} mGy, {manifest.irradiation_events} events; "
        f"{manifest.start.isoformat()} → {manifest.end.isoformat()}",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "bench":
        written = write_bench_set(args.set_name, args.out_dir, seed=args.seed)
        print(
            f"bench {written.name}: {len(written.files)} file(s), {written.total_bytes} bytes "
            f"in {args.out_dir} (study {written.study_instance_uid})"
        )
        return 0
    if args.command == "all":
        manifests = write_all_cases(args.out_dir, seed=args.seed, size=args.size)
    else:
        manifests = [write_case(args.command, args.out_dir, seed=args.seed, size=args.size)]
    if args.json:
        payload = [m.model_dump(mode="json") for m in manifests]
        print(json.dumps(payload if len(payload) > 1 else payload[0], indent=2))
    else:
        print("\n".join(_describe(m) for m in manifests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
