"""Receive benchmark (issues 2, 15): vp-log listen vs the durable floor, dcmtk and pynetdicom.

For each data set (A: 1000 single-frame 512x512 XA, B: 20 cine runs 512x512x60, C: one
>= 500 MB multi-frame XA) the receivers run in turn, in the same run, each on a fresh free port
on 127.0.0.1 with a fresh output folder, and dcmtk's ``storescu`` sends the whole set in one
association with the same options every time; then (sets with at least four files) four
``storescu`` at once, each sending a quarter of the set. The *durable floor* is what vp-log's
guarantee costs without any network: the same files written, fsynced, renamed and their folder
fsynced, one writer per association. Figures: wall time of the transfer, MB/s, instances/s,
throughput as a ratio to the floor's and to dcmtk's in the same run, CPU cores the receiver's
processes used, peak RSS of the receiver process (VmHWM) and, for vp-log, how long after the
transfer every study's record left ``receiving``. See bench/README.md.

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

# Targets from issue 15: vp_log throughput as a fraction of the durable floor's (write, fsync,
# rename, folder fsync of the same files, no network), measured in the same run.
TARGET_RATIO = {"A": 0.5, "B": 0.8, "C": 0.8}
TARGET_RSS_MB_C = 150.0
TARGET_COMPLETE_EXTRA_S = 5.0
PARALLEL = 4  # associations at once in the parallel case (as a PACS forwards)
FLOOR_CHUNK = PDU  # the floor writes in chunks of one PDU, as a receiver gets them

READY_TIMEOUT_S = 90.0  # vp-log creates / migrates its database on first start
IDLE_TIMEOUT_S = 30.0  # then its worker starts
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


def split_files(folder: Path, parts: int) -> list[list[Path]]:
    """The set's files in ``parts`` interleaved lists (each a quarter of A, five runs of B)."""
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return [files[i::parts] for i in range(parts) if files[i::parts]]


# --- the durable floor -----------------------------------------------------------------------
def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def floor_write(files: list[Path], out: Path, tag: str) -> None:
    """What vp-log's spool does for each instance, without the network: the bytes written in
    PDU-sized chunks into ``out/.incoming``, fsync, rename into ``out``, fsync of ``out``."""
    incoming = out / ".incoming"
    for n, src in enumerate(files):
        part = incoming / f"{tag}-{n}.part"
        with src.open("rb") as fin, part.open("wb") as fout:
            while chunk := fin.read(FLOOR_CHUNK):
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        os.rename(part, out / f"{tag}-{n}.dcm")
        fsync_dir(out)


def run_floor(data: DataSet, repeat: int, work_dir: Path, parallel: int) -> RunResult:
    """The durable floor: one writer thread per association (fsync releases the GIL)."""
    result = RunResult(data.name, "floor", repeat, parallel=parallel)
    out = work_dir / "runs" / f"{data.name}-floor-{parallel}-{repeat}"
    shutil.rmtree(out, ignore_errors=True)
    (out / ".incoming").mkdir(parents=True)
    os.sync()
    groups = split_files(data.folder, parallel)
    errors: list[BaseException] = []

    def writer(i: int, files: list[Path]) -> None:
        try:
            floor_write(files, out, f"w{i}")
        except OSError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i, g)) for i, g in enumerate(groups)]
    cpu0 = os.times()
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    cpu1 = os.times()
    try:
        if errors:
            raise RuntimeError(f"floor write failed: {errors[0]}")
        result.received = sum(1 for p in out.iterdir() if p.suffix == ".dcm")
        if result.received != data.count:
            raise RuntimeError(f"floor kept {result.received} of {data.count} files")
        result.wall_s = wall
        result.mb_per_s = data.total_bytes / 1e6 / wall
        result.instances_per_s = data.count / wall
        result.cpu_s = cpu1.user - cpu0.user + cpu1.system - cpu0.system
        result.cores = result.cpu_s / wall
        result.process_name = "python (bench)"
        result.ok = True
    except RuntimeError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return result


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


def session_cpu(sid: int) -> dict[int, tuple[float, bool]]:
    """CPU seconds (user + system) of each process of session ``sid`` (the receiver, its
    worker, acceptors or forked children) from /proc: pid -> (seconds, is vp-log's worker)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        # fields[0] is the state (field 3): session is field 6, utime 14, stime 15, and
        # cutime, cstime (16, 17) count the children it reaped (dcmtk's --fork); nice is 19
        if int(fields[3]) == sid:
            used = sum(int(v) for v in fields[11:15]) / tick
            out[int(entry.name)] = (used, int(fields[16]) > 0)  # the worker runs at +10
    return out


def cpu_between(
    before: dict[int, tuple[float, bool]], after: dict[int, tuple[float, bool]]
) -> tuple[float, float, list[float]]:
    """(all processes, the worker, each receiving process) CPU seconds between samples."""
    total = worker = 0.0
    receiving = []
    for pid, (used, is_worker) in after.items():
        spent = used - before.get(pid, (0.0, False))[0]
        total += spent
        if is_worker:
            worker += spent
        else:
            receiving.append(spent)
    return total, worker, sorted(receiving, reverse=True)


def vm_hwm_mb(pid: int) -> float | None:
    value = proc_status(pid).get("VmHWM")
    return int(value.split()[0]) / 1024 if value else None  # kB -> MiB


def receiving_pids(sid: int) -> list[int]:
    """The receiving processes of session ``sid``: the receiver and its children at nice 0
    (vp-log's acceptors, dcmtk's --fork children), not vp-log's worker (nice +10)."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(entry.path, "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and int(fields[16]) <= 0:
            pids.append(int(entry.name))
    return pids


def receiving_hwm_mb(sid: int) -> float | None:
    """The highest VmHWM of one receiving process of session ``sid``."""
    peaks = [v for pid in receiving_pids(sid) if (v := vm_hwm_mb(pid)) is not None]
    return max(peaks) if peaks else None


class HwmPoller(threading.Thread):
    """Polls VmHWM of ``pid`` so a peak is kept even if the process dies early."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True, name=f"hwm-{pid}")
        self.pid = pid
        self.interval = interval
        self.peak_mb = 0.0
        self.done = threading.Event()

    def sample(self) -> float:
        value = receiving_hwm_mb(self.pid)
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


def wait_idle(sid: int, timeout: float = IDLE_TIMEOUT_S) -> None:
    """Until the receiver's processes are idle: vp-log's worker starts (imports) after the
    listener says it listens, and would otherwise compete with the first transfer."""
    deadline = time.monotonic() + timeout
    before = session_cpu(sid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = session_cpu(sid)
        if cpu_between(before, now)[0] < 0.05:
            return
        before = now


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

    def command(self, port: int, out: Path, parallel: int = 1) -> list[str]:
        if self.key.startswith("vp_log"):
            return [sys.executable, "-m", "vp_log", "listen"]
        if self.key == "dcmtk":
            # Fastest: single process, bit-preserving (+B writes the received bytes as they
            # came), 128 KB PDUs, no host lookup; TCP_NODELAY=1 is in the environment.
            # Several associations at once: a process per association (--fork), else
            # storescp serves them one after the other.
            fork = ["--fork"] if parallel > 1 else []
            return ["storescp", *fork, "+B", "-dhl", "-pdu", str(PDU), "-od", str(out), str(port)]
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
        if self.key.startswith("vp_log"):
            env.update(vp_log_env(port, out, quiet_period_s))
        if self.key == "vp_log2":
            env["VP_LOG_RECEIVE_PROCESSES"] = "2"
        if self.key == "vp_log_before":
            if BEFORE_SRC is None:
                raise RuntimeError("vp_log_before needs --before SRC")
            env["PYTHONPATH"] = str(BEFORE_SRC)
        return env


RECEIVERS = {
    "vp_log": Receiver("vp_log", "vp-log listen", "VPLOG", "listening as"),
    "vp_log2": Receiver("vp_log2", "vp-log, 2 processes", "VPLOG", "listening as"),
    "vp_log_before": Receiver("vp_log_before", "vp-log before", "VPLOG", "listening as"),
    "dcmtk": Receiver("dcmtk", "dcmtk storescp", "STORESCP", None),
    "pynetdicom": Receiver("pynetdicom", "pynetdicom storescp", "STORESCP", None),
}
BEFORE_SRC: Path | None = None  # --before: the src folder of an older vp_log (PYTHONPATH)
FLOOR_LABEL = "durable floor"
LABELS = {"floor": FLOOR_LABEL, **{k: r.label for k, r in RECEIVERS.items()}}


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
    parallel: int = 1  # associations at once
    ok: bool = False
    error: str | None = None
    wall_s: float | None = None
    mb_per_s: float | None = None
    instances_per_s: float | None = None
    peak_rss_mb: float | None = None
    cores: float | None = None  # CPU seconds of the receiver's processes / wall seconds
    cpu_s: float | None = None  # CPU seconds of the receiver's processes during the transfer
    worker_cpu_s: float | None = None  # of which vp-log's worker (extraction, database)
    receiving_cpu_s: list[float] = field(default_factory=list)  # each receiving process
    received: int | None = None
    process_name: str | None = None
    # vp-log only: seconds after the transfer ended
    all_instances_in_db_s: float | None = None
    record_complete_s: float | None = None
    record_complete_extra_s: float | None = None
    record_status: list[str] = field(default_factory=list)
    log_tail: str | None = None


def storescu_command(port: int, called_ae: str, files: Path | list[Path]) -> list[str]:
    """Every file of a folder (``+sd -r``) or of a list, in one association."""
    what = ["+sd", "-r", str(files)] if isinstance(files, Path) else [str(f) for f in files]
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
        HOST,
        str(port),
        *what,
    ]


def count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def stored_from_log(log: Path) -> int | None:
    """Instances stored, added up over the associations the log says were released."""
    counts = [
        int(m) for m in re.findall(r"released: (\d+) stored", log.read_text("utf-8", "replace"))
    ]
    return sum(counts) if counts else None


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


def send(port: int, called_ae: str, data: DataSet, parallel: int, timeout_s: float) -> float:
    """Run the storescu senders (one, or ``parallel`` at once); their wall time."""
    env = {**os.environ, "TCP_NODELAY": "1"}
    if parallel == 1:
        commands = [storescu_command(port, called_ae, data.folder)]
    else:
        commands = [
            storescu_command(port, called_ae, files) for files in split_files(data.folder, parallel)
        ]
    t0 = time.monotonic()
    senders = [
        subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for cmd in commands
    ]
    failures = []
    for sender in senders:
        try:
            _, err = sender.communicate(timeout=max(1.0, t0 + timeout_s - time.monotonic()))
        except subprocess.TimeoutExpired:
            for s in senders:
                s.kill()
            raise
        if sender.returncode != 0:
            failures.append(f"exit {sender.returncode}: {err.decode(errors='replace')[-800:]}")
    wall = time.monotonic() - t0
    if failures:
        raise RuntimeError("storescu " + "; ".join(failures))
    return wall


def run_once(
    data: DataSet,
    receiver: Receiver,
    repeat: int,
    work_dir: Path,
    quiet_period_s: float,
    transfer_timeout_s: float,
    parallel: int = 1,
) -> RunResult:
    result = RunResult(data.name, receiver.key, repeat, parallel=parallel)
    name = f"{data.name}-{receiver.key}-{parallel}-{repeat}"
    out = work_dir / "runs" / name
    log = work_dir / "logs" / f"{name}.log"
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
                receiver.command(port, out, parallel),
                env=receiver.environment(port, out, quiet_period_s),
                stdout=log_fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        poller = HwmPoller(proc.pid)
        poller.start()
        wait_ready(proc, log, port, receiver.called_ae, receiver.ready_marker)
        wait_idle(proc.pid)
        # The pid we measure is the receiver itself (python or storescp), not a wrapper.
        result.process_name = proc_status(proc.pid).get("Name")

        cpu0 = session_cpu(proc.pid)
        result.wall_s = send(port, receiver.called_ae, data, parallel, transfer_timeout_s)
        t_end = time.monotonic()
        result.cpu_s, result.worker_cpu_s, result.receiving_cpu_s = cpu_between(
            cpu0, session_cpu(proc.pid)
        )
        result.cores = result.cpu_s / result.wall_s
        result.mb_per_s = data.total_bytes / 1e6 / result.wall_s
        result.instances_per_s = data.count / result.wall_s

        if receiver.key.startswith("vp_log"):
            poll_vp_log_db(out / "vp_log.db", data, t_end, quiet_period_s, result)
            result.received = stored_from_log(log)
        else:
            result.received = count_files(out)
        if result.received != data.count:
            raise RuntimeError(f"receiver kept {result.received} of {data.count} instances")
        poller.sample()
        result.peak_rss_mb = poller.sample()
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
    peaks = [r.peak_rss_mb for r in good if r.peak_rss_mb is not None]
    best.peak_rss_mb = max(peaks) if peaks else None
    extras = [r.record_complete_extra_s for r in good if r.record_complete_extra_s is not None]
    if extras:
        worst = max(good, key=lambda r: r.record_complete_extra_s or 0.0)
        best.record_complete_s = worst.record_complete_s
        best.record_complete_extra_s = worst.record_complete_extra_s
        best.all_instances_in_db_s = worst.all_instances_in_db_s
    return best


def fmt(value: float | None, spec: str) -> str:
    """``value`` formatted, or "-" as wide as the spec says."""
    if value is None:
        width = spec.split(".", 1)[0]
        return "-".rjust(int(width)) if width.isdigit() else "-"
    return format(value, spec)


def report_set(
    data: DataSet, runs: dict[str, list[RunResult]], quiet_period_s: float, parallel: int
) -> dict[str, Any]:
    best = {key: best_of(rs) for key, rs in runs.items()}
    floor, dcmtk = best.get("floor"), best.get("dcmtk")
    floor_rate = floor.mb_per_s if floor is not None else None
    dcmtk_rate = dcmtk.mb_per_s if dcmtk is not None else None
    print()
    how = "one association" if parallel == 1 else f"{parallel} associations at once"
    print(
        f"Set {data.name}, {how}: {data.count} instance(s), {data.total_bytes / 1e6:.1f} MB, "
        f"best of {max(len(rs) for rs in runs.values())}"
    )
    # 80 columns: the record column is "quiet period + N s" and "all in the database + N s"
    header = (
        f"  {'receiver':<20}{'wall s':>7}{'MB/s':>7}{'inst/s':>7}{'x floor':>8}"
        f"{'x dcmtk':>8}{'cores':>6}{'RSS MB':>7}  {'record':>6}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    summary: dict[str, Any] = {
        "count": data.count,
        "total_bytes": data.total_bytes,
        "parallel": parallel,
    }
    for key, r in best.items():
        label = LABELS[key]
        if r is None:
            errors = "; ".join(x.error or "?" for x in runs[key])
            print(f"  {label:<20} FAILED: {errors}")
            summary[key] = {"ok": False, "errors": [x.error for x in runs[key]]}
            continue
        to_floor = r.mb_per_s / floor_rate if floor_rate and r.mb_per_s else None
        to_dcmtk = r.mb_per_s / dcmtk_rate if dcmtk_rate and r.mb_per_s else None
        record = ""
        if r.record_complete_extra_s is not None:
            record = f"q+{r.record_complete_extra_s:.1f}"
        print(
            f"  {label:<20}{fmt(r.wall_s, '7.2f')}{fmt(r.mb_per_s, '7.0f')}"
            f"{fmt(r.instances_per_s, '7.1f')}{fmt(to_floor, '8.2f')}{fmt(to_dcmtk, '8.2f')}"
            f"{fmt(r.cores, '6.2f')}{fmt(r.peak_rss_mb, '7.1f')}  {record:>6}"
        )
        summary[key] = {**asdict(r), "ratio_to_floor": to_floor, "ratio_to_dcmtk": to_dcmtk}
    targets: list[dict[str, Any]] = []
    for key in ("vp_log", "vp_log2"):
        if key in runs:
            targets += vp_log_targets(
                key, best.get(key), data, floor_rate, parallel, quiet_period_s
            )
    for t in targets:
        print(f"  target {t['target']}: {t['value']} -> {'MET' if t['met'] else 'MISSED'}")
    summary["targets"] = targets
    return summary


def vp_log_targets(
    key: str,
    vp: RunResult | None,
    data: DataSet,
    floor_rate: float | None,
    parallel: int,
    quiet_period_s: float,
) -> list[dict[str, Any]]:
    """Issue 15's targets for one vp-log configuration, as measured."""
    who = LABELS[key]
    if vp is None:
        return [{"target": f"{who}: run", "value": None, "met": False}]
    targets: list[dict[str, Any]] = []
    if floor_rate and vp.mb_per_s:
        want = TARGET_RATIO[data.name]
        got = vp.mb_per_s / floor_rate
        targets.append(
            {
                "target": f"{who}: >= {want}x the floor",
                "value": round(got, 3),
                "met": got >= want,
            }
        )
    if parallel > 1 and key == "vp_log2":
        # Both cores: the receiving work is shared by two processes (each at least a third);
        # how many CPU seconds per second it got depends on what else the machine runs.
        shares = vp.receiving_cpu_s
        total = sum(shares, 0.0)
        share = shares[1] / total if len(shares) > 1 and total > 0 else 0.0
        targets.append(
            {
                "target": f"{who}: both cores (2nd one's share >= 1/3)",
                "value": round(share, 2),
                "met": share >= 1 / 3,
            }
        )
    if data.name == "C" and vp.peak_rss_mb is not None:
        targets.append(
            {
                "target": f"{who}: peak RSS < {TARGET_RSS_MB_C:g} MB",
                "value": round(vp.peak_rss_mb, 1),
                "met": vp.peak_rss_mb < TARGET_RSS_MB_C,
            }
        )
    if vp.record_complete_extra_s is not None:
        targets.append(
            {
                "target": f"{who}: records <= quiet period + {TARGET_COMPLETE_EXTRA_S:g} s",
                "value": round(vp.record_complete_extra_s, 2),
                "met": vp.record_complete_extra_s <= TARGET_COMPLETE_EXTRA_S,
            }
        )
    return targets


def run_case(
    data: DataSet,
    receivers: list[str],
    parallel: int,
    args: argparse.Namespace,
    data_dir: Path,
    output: dict[str, Any],
) -> dict[str, Any]:
    """Every receiver (and the floor) ``--repeat`` times, round-robin; the set's summary."""
    keys = ["floor", *receivers]
    runs: dict[str, list[RunResult]] = {k: [] for k in keys}
    how = "" if parallel == 1 else f" x{parallel}"
    for repeat in range(1, args.repeat + 1):
        for key in keys:
            print(f"[{data.name}{how}] run {repeat}/{args.repeat}: {LABELS[key]} ...", flush=True)
            if key == "floor":
                r = run_floor(data, repeat, data_dir, parallel)
            else:
                r = run_once(
                    data,
                    RECEIVERS[key],
                    repeat,
                    data_dir,
                    args.quiet_period,
                    args.transfer_timeout,
                    parallel,
                )
            runs[key].append(r)
            output["runs"].append(asdict(r))
            if r.ok:
                cpu = [f"{c:.2f}" for c in r.receiving_cpu_s if c >= 0.01] or [fmt(r.cpu_s, ".2f")]
                if r.worker_cpu_s:
                    cpu.append(f"worker {r.worker_cpu_s:.2f}")
                print(
                    f"    {r.wall_s:.2f} s, {r.mb_per_s:.0f} MB/s, CPU s {' + '.join(cpu)}, "
                    f"RSS {fmt(r.peak_rss_mb, '.0f')} MB ({r.process_name})",
                    flush=True,
                )
            else:
                print(f"    FAILED: {r.error}\n{r.log_tail or ''}", flush=True)
    return report_set(data, runs, args.quiet_period, parallel)


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
        default="vp_log,vp_log2,dcmtk,pynetdicom",
        help="comma-separated subset of vp_log,vp_log2 (receive_processes 2),dcmtk,pynetdicom "
        "(the durable floor always runs)",
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=PARALLEL,
        help=f"associations at once in the parallel case (default {PARALLEL}; 1: none)",
    )
    parser.add_argument(
        "--before",
        type=Path,
        help="src folder of an older vp_log (git archive REV src | tar -x -C DIR): adds "
        "receiver vp_log_before, run with it on PYTHONPATH in the same run",
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
    if args.parallel < 1:
        parser.error("--parallel must be >= 1")
    if args.before is not None:
        global BEFORE_SRC  # noqa: PLW0603 (one run, one older version)
        BEFORE_SRC = args.before.resolve()
        if not (BEFORE_SRC / "vp_log" / "__init__.py").is_file():
            parser.error(f"--before {args.before}: no vp_log package in it")
        if "vp_log_before" not in receivers:
            receivers.insert(0, "vp_log_before")
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
        "parallel": args.parallel,
        "receivers": {k: " ".join(RECEIVERS[k].command(0, Path("<out>"))) for k in receivers},
        "sets": {},
        "runs": [],
    }
    all_met = True
    for name in sets:
        data = ensure_set(name, data_dir)
        warm_page_cache(data.folder)
        cases = [1]
        if args.parallel > 1 and data.count >= args.parallel:
            cases.append(args.parallel)
        for parallel in cases:
            summary = run_case(data, receivers, parallel, args, data_dir, output)
            output["sets"][name if parallel == 1 else f"{name}x{parallel}"] = summary
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
