"""Receive benchmark (issue 2): vp-log listen vs dcmtk storescp vs pynetdicom storescp.

For each data set (A: 1000 single-frame 512x512 XA, B: 20 cine runs 512x512x60, C: one
>= 500 MB multi-frame XA) the three receivers run in turn, in the same run, each on a fresh
free port on 127.0.0.1 with a fresh output folder, and dcmtk's ``storescu`` sends the whole set
in one association with the same options every time. Figures: wall time of the storescu
transfer, MB/s, instances/s, peak RSS of the receiver process (VmHWM), the ratio of throughput
to dcmtk's in the same run and, for vp-log, how long after the transfer every study's record
left ``receiving``. See bench/README.md.

    .venv/bin/python bench/bench_receive.py --sets A,B,C --repeat 1 --json-out bench/out/r.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
PDU = 131072
CALLING_AE = "BENCHSCU"
DATA_VERSION = 1  # bump when the generated sets change, so cached copies are rewritten

# Targets from issue 2 (vp_log throughput as a fraction of dcmtk's, measured in the same run).
TARGET_RATIO = {"A": 0.5, "B": 0.8, "C": 0.8}
TARGET_RSS_MB_C = 150.0
TARGET_COMPLETE_EXTRA_S = 5.0

READY_TIMEOUT_S = 90.0  # vp-log creates / migrates its database on first start
STOP_TIMEOUT_S = 90.0  # vp-log drains its spool on SIGTERM
COMPLETE_TIMEOUT_S = 300.0  # beyond the quiet period


# --- data ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataSet:
    name: str
    folder: Path
    count: int
    total_bytes: int
    study_uids: tuple[str, ...]


def ensure_set(name: str, data_dir: Path) -> DataSet:
    """The cached set ``name`` under ``data_dir``, generated first when missing or stale."""
    folder = data_dir / name
    manifest = data_dir / f"{name}.json"
    if manifest.is_file() and folder.is_dir():
        meta = json.loads(manifest.read_text())
        files = sorted(p for p in folder.iterdir() if p.is_file())
        if (
            meta.get("version") == DATA_VERSION
            and len(files) == meta["count"]
            and sum(p.stat().st_size for p in files) == meta["total_bytes"]
        ):
            return DataSet(
                name, folder, meta["count"], meta["total_bytes"], tuple(meta["study_uids"])
            )
        print(f"[{name}] cached copy is stale; regenerating", flush=True)
    from vp_log.samples.bench import write_bench_set

    manifest.unlink(missing_ok=True)
    tmp = data_dir / f"{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.mkdir(parents=True)
    started = time.monotonic()
    print(f"[{name}] generating into {folder} ...", flush=True)
    written = write_bench_set(name, tmp)
    tmp.rename(folder)
    meta = {
        "version": DATA_VERSION,
        "name": written.name,
        "count": len(written.files),
        "total_bytes": written.total_bytes,
        "study_uids": [written.study_instance_uid],
        "pixel_bytes_per_instance": written.pixel_bytes_per_instance,
    }
    manifest.write_text(json.dumps(meta, indent=2))
    print(
        f"[{name}] {meta['count']} files, {written.total_bytes / 1e6:.1f} MB "
        f"in {time.monotonic() - started:.1f} s",
        flush=True,
    )
    return DataSet(name, folder, meta["count"], meta["total_bytes"], tuple(meta["study_uids"]))


def warm_page_cache(folder: Path) -> None:
    """Read every file once so that no receiver pays for the sender's cold reads."""
    for path in sorted(folder.iterdir()):
        with path.open("rb") as fh:
            while fh.read(8 << 20):
                pass


# --- processes -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def proc_status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def vm_hwm_mb(pid: int) -> float | None:
    value = proc_status(pid).get("VmHWM")
    return int(value.split()[0]) / 1024 if value else None  # kB -> MiB


class HwmPoller(threading.Thread):
    """Polls VmHWM of ``pid`` so a peak is kept even if the process dies early."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True, name=f"hwm-{pid}")
        self.pid = pid
        self.interval = interval
        self.peak_mb = 0.0
        self.done = threading.Event()

    def sample(self) -> float:
        value = vm_hwm_mb(self.pid)
        if value is not None:
            self.peak_mb = max(self.peak_mb, value)
        return self.peak_mb

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.sample()


def stop_process(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    """SIGTERM and wait; SIGKILL the process group when it does not stop in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"  ! pid {proc.pid} ignored SIGTERM for {timeout:.0f} s; killing", flush=True)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return proc.returncode


def echo_ok(port: int, called_ae: str) -> bool:
    try:
        result = subprocess.run(
            [
                "echoscu",
                "-aet",
                CALLING_AE,
                "-aec",
                called_ae,
                "-to",
                "2",
                "-ta",
                "5",
                HOST,
                str(port),
            ],
            capture_output=True,
            timeout=15,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def wait_ready(
    proc: subprocess.Popen[bytes], log: Path, port: int, called_ae: str, marker: str | None
) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"receiver exited with {proc.returncode}: {tail(log)}")
        seen = marker is None or marker in log.read_text(errors="replace")
        if seen and echo_ok(port, called_ae):
            return
        time.sleep(0.1)
    raise RuntimeError(f"receiver not ready within {READY_TIMEOUT_S:.0f} s: {tail(log)}")


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# --- receivers -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Receiver:
    key: str
    label: str
    called_ae: str
    ready_marker: str | None

    def command(self, port: int, out: Path) -> list[str]:
        if self.key == "vp_log":
            return [sys.executable, "-m", "vp_log", "listen"]
        if self.key == "dcmtk":
            # Fastest: single process, bit-preserving (+B writes the received bytes as they
            # came), 128 KB PDUs, no host lookup; TCP_NODELAY=1 is in the environment.
            return ["storescp", "+B", "-dhl", "-pdu", str(PDU), "-od", str(out), str(port)]
        return [
            sys.executable,
            "-m",
            "pynetdicom",
            "storescp",
            "-ba",
            HOST,
            "-pdu",
            str(PDU),
            "-od",
            str(out),
            str(port),
        ]

    def environment(self, port: int, out: Path, quiet_period_s: float) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VP_LOG_")}
        env["TCP_NODELAY"] = "1"
        env["PYTHONUNBUFFERED"] = "1"
        if self.key == "vp_log":
            env.update(vp_log_env(port, out, quiet_period_s))
        return env


RECEIVERS = {
    "vp_log": Receiver("vp_log", "vp-log listen", "VPLOG", "listening as"),
    "dcmtk": Receiver("dcmtk", "dcmtk storescp", "STORESCP", None),
    "pynetdicom": Receiver("pynetdicom", "pynetdicom storescp", "STORESCP", None),
}


def vp_log_env(port: int, data_dir: Path, quiet_period_s: float) -> dict[str, str]:
    return {
        "VP_LOG_DATA_DIR": str(data_dir),
        "VP_LOG_DATABASE_URL": f"sqlite:///{data_dir / 'vp_log.db'}",
        "VP_LOG_PORT": str(port),
        "VP_LOG_BIND_ADDRESS": HOST,
        "VP_LOG_QUIET_PERIOD_S": f"{quiet_period_s:g}",
        "VP_LOG_MAX_PDU_SIZE": str(PDU),
        "VP_LOG_LOG_LEVEL": "INFO",
    }


# --- one run ---------------------------------------------------------------------------------
@dataclass
class RunResult:
    set_name: str
    receiver: str
    repeat: int
    ok: bool = False
    error: str | None = None
    wall_s: float | None = None
    mb_per_s: float | None = None
    instances_per_s: float | None = None
    peak_rss_mb: float | None = None
    received: int | None = None
    process_name: str | None = None
    # vp-log only: seconds after the transfer ended
    all_instances_in_db_s: float | None = None
    record_complete_s: float | None = None
    record_complete_extra_s: float | None = None
    record_status: list[str] = field(default_factory=list)
    log_tail: str | None = None


def storescu_command(port: int, called_ae: str, folder: Path) -> list[str]:
    return [
        "storescu",
        "-aet",
        CALLING_AE,
        "-aec",
        called_ae,
        "-R",  # propose only the SOP class / transfer syntax pairs the files need
        "-pdu",
        str(PDU),
        "-nh",
        "-to",
        "10",
        "-ta",
        "30",
        "-ts",
        "120",
        "+sd",  # every file of the folder, in one association
        "-r",
        HOST,
        str(port),
        str(folder),
    ]


def count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def stored_from_log(log: Path) -> int | None:
    counts = [
        int(m) for m in re.findall(r"released: (\d+) stored", log.read_text("utf-8", "replace"))
    ]
    return max(counts) if counts else None


def poll_vp_log_db(
    db: Path, data: DataSet, t_end: float, quiet_period_s: float, result: RunResult
) -> None:
    """Poll the listener's SQLite database read-only until every study left ``receiving``."""
    deadline = time.monotonic() + quiet_period_s + COMPLETE_TIMEOUT_S
    marks = ",".join("?" * len(data.study_uids))
    conn: sqlite3.Connection | None = None
    try:
        while time.monotonic() < deadline:
            try:
                if conn is None:
                    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
                now = time.monotonic()
                if result.all_instances_in_db_s is None:
                    (n,) = conn.execute(
                        f"SELECT count(*) FROM instances WHERE study_instance_uid IN ({marks})",
                        data.study_uids,
                    ).fetchone()
                    if n >= data.count:
                        result.all_instances_in_db_s = now - t_end
                rows = conn.execute(
                    "SELECT study_instance_uid, status, instance_count FROM procedures"
                    f" WHERE study_instance_uid IN ({marks})",
                    data.study_uids,
                ).fetchall()
                done = len(rows) == len(data.study_uids) and all(
                    status != "receiving" and count >= data.count // len(data.study_uids)
                    for _, status, count in rows
                )
                if done:
                    result.record_complete_s = now - t_end
                    result.record_complete_extra_s = result.record_complete_s - quiet_period_s
                    result.record_status = sorted({status for _, status, _ in rows})
                    return
            except sqlite3.OperationalError:
                if conn is not None:
                    conn.close()
                    conn = None
            time.sleep(0.05)
        raise RuntimeError(
            f"records not complete within the quiet period + {COMPLETE_TIMEOUT_S:.0f} s"
        )
    finally:
        if conn is not None:
            conn.close()


def run_once(
    data: DataSet,
    receiver: Receiver,
    repeat: int,
    work_dir: Path,
    quiet_period_s: float,
    transfer_timeout_s: float,
) -> RunResult:
    result = RunResult(data.name, receiver.key, repeat)
    out = work_dir / "runs" / f"{data.name}-{receiver.key}-{repeat}"
    log = work_dir / "logs" / f"{data.name}-{receiver.key}-{repeat}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    os.sync()  # no receiver pays for the previous one's dirty pages
    port = free_port()
    proc: subprocess.Popen[bytes] | None = None
    poller: HwmPoller | None = None
    try:
        with log.open("wb") as log_fh:
            proc = subprocess.Popen(
                receiver.command(port, out),
                env=receiver.environment(port, out, quiet_period_s),
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        poller = HwmPoller(proc.pid)
        poller.start()
        wait_ready(proc, log, port, receiver.called_ae, receiver.ready_marker)
        # The pid we measure is the receiver itself (python or storescp), not a wrapper.
        result.process_name = proc_status(proc.pid).get("Name")

        cmd = storescu_command(port, receiver.called_ae, data.folder)
        env = {**os.environ, "TCP_NODELAY": "1"}
        t0 = time.monotonic()
        sent = subprocess.run(
            cmd, env=env, capture_output=True, timeout=transfer_timeout_s, check=False
        )
        t_end = time.monotonic()
        if sent.returncode != 0:
            raise RuntimeError(
                f"storescu exit {sent.returncode}: {sent.stderr.decode(errors='replace')[-800:]}"
            )
        result.wall_s = t_end - t0
        result.mb_per_s = data.total_bytes / 1e6 / result.wall_s
        result.instances_per_s = data.count / result.wall_s

        if receiver.key == "vp_log":
            poll_vp_log_db(out / "vp_log.db", data, t_end, quiet_period_s, result)
            result.received = stored_from_log(log)
        else:
            result.received = count_files(out)
        if result.received != data.count:
            raise RuntimeError(f"receiver kept {result.received} of {data.count} instances")
        poller.sample()
        result.peak_rss_mb = vm_hwm_mb(proc.pid) or poller.sample()
        result.ok = True
    except (RuntimeError, subprocess.TimeoutExpired, OSError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        result.log_tail = tail(log)
    finally:
        if poller is not None:
            poller.done.set()
            poller.join(timeout=5)
            if result.peak_rss_mb is None and poller.peak_mb:
                result.peak_rss_mb = poller.peak_mb
        if proc is not None:
            rc = stop_process(proc, STOP_TIMEOUT_S)
            if rc not in (0, -signal.SIGTERM, 128 + signal.SIGTERM) and result.ok:
                result.log_tail = tail(log)
                print(f"  ! {receiver.label} exited with {rc} after SIGTERM", flush=True)
        shutil.rmtree(out, ignore_errors=True)
    return result


# --- report ----------------------------------------------------------------------------------
def best_of(runs: list[RunResult]) -> RunResult | None:
    """The fastest successful run; peak RSS and record delay are the worst over all runs."""
    good = [r for r in runs if r.ok and r.wall_s is not None]
    if not good:
        return None
    best = RunResult(**asdict(min(good, key=lambda r: r.wall_s or 0.0)))
    best.peak_rss_mb = max(r.peak_rss_mb or 0.0 for r in good)
    extras = [r.record_complete_extra_s for r in good if r.record_complete_extra_s is not None]
    if extras:
        worst = max(good, key=lambda r: r.record_complete_extra_s or 0.0)
        best.record_complete_s = worst.record_complete_s
        best.record_complete_extra_s = worst.record_complete_extra_s
        best.all_instances_in_db_s = worst.all_instances_in_db_s
    return best


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def report_set(
    data: DataSet, runs: dict[str, list[RunResult]], quiet_period_s: float
) -> dict[str, Any]:
    best = {key: best_of(rs) for key, rs in runs.items()}
    dcmtk = best.get("dcmtk")
    base = dcmtk.mb_per_s if dcmtk is not None else None
    print()
    print(
        f"Set {data.name}: {data.count} instance(s), {data.total_bytes / 1e6:.1f} MB, "
        f"best of {max(len(rs) for rs in runs.values())}"
    )
    header = (
        f"  {'receiver':<20} {'wall s':>8} {'MB/s':>8} {'inst/s':>8} {'x dcmtk':>8} "
        f"{'peak RSS MB':>12}  record complete"
    )
    print(header)
    print("  " + "-" * (len(header) + 8))
    summary: dict[str, Any] = {"count": data.count, "total_bytes": data.total_bytes}
    for key, r in best.items():
        label = RECEIVERS[key].label
        if r is None:
            errors = "; ".join(x.error or "?" for x in runs[key])
            print(f"  {label:<20} FAILED: {errors}")
            summary[key] = {"ok": False, "errors": [x.error for x in runs[key]]}
            continue
        ratio = r.mb_per_s / base if base and r.mb_per_s else None
        record = ""
        if r.record_complete_extra_s is not None:
            record = (
                f"quiet period + {r.record_complete_extra_s:.1f} s "
                f"(all in DB +{fmt(r.all_instances_in_db_s, '.1f')} s; "
                f"{','.join(r.record_status)})"
            )
        print(
            f"  {label:<20} {fmt(r.wall_s, '8.2f')} {fmt(r.mb_per_s, '8.1f')} "
            f"{fmt(r.instances_per_s, '8.1f')} {fmt(ratio, '8.2f')} "
            f"{fmt(r.peak_rss_mb, '12.1f')}  {record}"
        )
        summary[key] = {**asdict(r), "ratio_to_dcmtk": ratio}
    vp = best.get("vp_log")
    targets: list[dict[str, Any]] = []
    if vp is not None and base and vp.mb_per_s:
        want = TARGET_RATIO[data.name]
        got = vp.mb_per_s / base
        targets.append(
            {"target": f"throughput >= {want}x dcmtk", "value": round(got, 3), "met": got >= want}
        )
    if vp is not None and data.name == "C" and vp.peak_rss_mb is not None:
        targets.append(
            {
                "target": f"peak RSS < {TARGET_RSS_MB_C:g} MB",
                "value": round(vp.peak_rss_mb, 1),
                "met": vp.peak_rss_mb < TARGET_RSS_MB_C,
            }
        )
    if vp is not None and vp.record_complete_extra_s is not None:
        targets.append(
            {
                "target": f"record complete within quiet period ({quiet_period_s:g} s) "
                f"+ {TARGET_COMPLETE_EXTRA_S:g} s",
                "value": round(vp.record_complete_extra_s, 2),
                "met": vp.record_complete_extra_s <= TARGET_COMPLETE_EXTRA_S,
            }
        )
    if "vp_log" in runs and vp is None:
        targets.append({"target": "vp-log run", "value": None, "met": False})
    for t in targets:
        print(f"  target {t['target']}: {t['value']} -> {'MET' if t['met'] else 'MISSED'}")
    summary["targets"] = targets
    return summary


def tool_versions() -> dict[str, str]:
    def first_line(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return "?"
        text = (out.stdout or out.stderr).decode(errors="replace").strip().splitlines()
        return text[0] if text else "?"

    import pydicom
    import pynetdicom

    return {
        "python": platform.python_version(),
        "pydicom": pydicom.__version__,
        "pynetdicom": pynetdicom.__version__,
        "storescp": first_line(["storescp", "--version"]),
        "storescu": first_line(["storescu", "--version"]),
        "cpus": str(os.cpu_count()),
        "kernel": platform.release(),
    }


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so every receiver is stopped.
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="A,B,C", help="comma-separated: A,B,C")
    parser.add_argument("--repeat", type=int, default=1, help="runs per receiver; best of N")
    parser.add_argument(
        "--data", type=Path, default=HERE / "out", help="cache of generated sets and scratch"
    )
    parser.add_argument("--json-out", type=Path, help="write the results as JSON here")
    parser.add_argument(
        "--receivers",
        default="vp_log,dcmtk,pynetdicom",
        help="comma-separated subset of vp_log,dcmtk,pynetdicom (dcmtk is the ratio base)",
    )
    parser.add_argument("--quiet-period", type=float, default=2.0, help="VP_LOG_QUIET_PERIOD_S")
    parser.add_argument("--transfer-timeout", type=float, default=900.0, help="per storescu run")
    args = parser.parse_args(argv)

    sets = [s.strip().upper() for s in args.sets.split(",") if s.strip()]
    receivers = [r.strip() for r in args.receivers.split(",") if r.strip()]
    for s in sets:
        if s not in TARGET_RATIO:
            parser.error(f"unknown set {s!r}")
    for r in receivers:
        if r not in RECEIVERS:
            parser.error(f"unknown receiver {r!r}")
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    for tool in ("storescu", "storescp", "echoscu"):
        if shutil.which(tool) is None:
            parser.error(f"dcmtk's {tool} is not on PATH")

    data_dir: Path = args.data.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    versions = tool_versions()
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()), flush=True)
    output: dict[str, Any] = {
        "command": [sys.executable, *sys.argv],
        "versions": versions,
        "pdu": PDU,
        "quiet_period_s": args.quiet_period,
        "storescu": " ".join(storescu_command(0, "<AE>", Path("<set folder>"))),
        "receivers": {k: " ".join(RECEIVERS[k].command(0, Path("<out>"))) for k in receivers},
        "sets": {},
        "runs": [],
    }
    all_met = True
    for name in sets:
        data = ensure_set(name, data_dir)
        warm_page_cache(data.folder)
        runs: dict[str, list[RunResult]] = {k: [] for k in receivers}
        for repeat in range(1, args.repeat + 1):
            for key in receivers:
                print(
                    f"[{name}] run {repeat}/{args.repeat}: {RECEIVERS[key].label} ...", flush=True
                )
                r = run_once(
                    data, RECEIVERS[key], repeat, data_dir, args.quiet_period, args.transfer_timeout
                )
                runs[key].append(r)
                output["runs"].append(asdict(r))
                if r.ok:
                    print(
                        f"    {r.wall_s:.2f} s, {r.mb_per_s:.1f} MB/s, "
                        f"peak RSS {fmt(r.peak_rss_mb, '.1f')} MB ({r.process_name})",
                        flush=True,
                    )
                else:
                    print(f"    FAILED: {r.error}\n{r.log_tail or ''}", flush=True)
        summary = report_set(data, runs, args.quiet_period)
        output["sets"][name] = summary
        all_met = all_met and all(t["met"] for t in summary["targets"])
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(output, indent=2, default=str))
        print(f"\nresults written to {args.json_out}")
    shutil.rmtree(data_dir / "runs", ignore_errors=True)
    print(f"\nall vp-log targets met: {'yes' if all_met else 'no'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
