"""Worker benchmark (issue 17): what the listener's worker costs while nothing happens, per late
batch of a growing study, and to the listener's acknowledgements while it works.

```sh
.venv/bin/python bench/bench_worker.py --sizes 1000,10000,50000 [--json-out FILE]
.venv/bin/python bench/bench_worker.py --store DIR        # any data folder with vp_log.db
```

``measure(data_dir, database_url)`` is also the hook ``bench_store.py`` calls on each store.
Everything runs on one copy of the store's SQLite database (the archive is not copied:
nothing here reads it), so the cached store is never changed. Three figures:

- **idle**: ``vp-log listen`` on the copy; once its worker has settled (its start-up round
  over), the CPU seconds (user + system, ``/proc/PID/stat``) of the worker process and of the
  listener process over ``--idle-seconds`` (30 s), as a percentage of one CPU, and what the
  worker read (``rchar``, MB/s: a worker waiting on the disk uses little CPU).
  Target: worker under 1 % at 50 000 studies.
- **rebuild**: in this process, the worker's own rounds (``worker.drain`` then
  ``Pipeline.complete_quiet_studies``, as ``worker.work`` runs them) on the copy, for one study
  growing to ``--study-size`` (2 000) instances in late batches of ``--batch`` (50) dropped into
  the spool: the CPU (``time.process_time``) and wall seconds of each round against the
  study's size before it (the reference is the first late batch), then the one call that
  completes the study once its quiet period is over. Target: the round's cost independent
  of the study's size.
- **ack**: ``vp-log listen`` on the copy, and a pynetdicom SCU here timing each
  ``send_c_store`` (one association per phase, 127.0.0.1) of small XA instances: ``idle``,
  ``--ack-count`` (400) with the worker idle (the reference); ``stream``, one association
  sending for ``--stream-seconds`` (15 s), its acknowledgements of the first 4 s and those
  after 6 s (the worker used to start after 5 s of a stream: the issue's case); ``busy``,
  ``--ack-count`` while the worker drains a backlog of ``--backlog`` instances dropped into
  the spool just before as if received 2 minutes ago (older than the worker ever waits).
  p50 / p99 in ms, p99 / p50, and p50 / the idle p50. Target: p99 under 2x the p50.

Prints figures; it is not a timed test. The load average is printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from store import DEFAULT_ROOT, build_store, database_url, vp_log_command, vp_log_env

HOST = "127.0.0.1"
READY_TIMEOUT_S = 180.0
SETTLE_TIMEOUT_S = 300.0
CLK_TCK = os.sysconf("SC_CLK_TCK")
STREAM_MAX = 6000
"""Instances ready for the stream (more than 15 s at 3 ms each)."""


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- processes ---------------------------------------------------------------------------
def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (its threads included, not its children)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def read_bytes(pid: int) -> int:
    """Bytes ``pid`` has read so far (``rchar`` of ``/proc/PID/io``: page cache included)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def worker_pid(listener: int, timeout: float = 60.0) -> int:
    """The listener's worker: its child started by multiprocessing's spawn (not the tracker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in children(listener):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
                return pid
        time.sleep(0.2)
    raise RuntimeError(f"no worker process under the listener {listener}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Listener:
    """``vp-log listen`` on a data folder, on a free port of 127.0.0.1."""

    def __init__(self, data_dir: Path, url: str, quiet_period_s: float = 120.0) -> None:
        self.port = free_port()
        self.log = data_dir.parent / f"listener-{data_dir.name}-{self.port}.log"
        env = vp_log_env(data_dir)
        env.update(
            {
                "VP_LOG_DATABASE_URL": url,
                "VP_LOG_PORT": str(self.port),
                "VP_LOG_BIND_ADDRESS": HOST,
                "VP_LOG_QUIET_PERIOD_S": f"{quiet_period_s:g}",
                "VP_LOG_LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                vp_log_command("listen"), env=env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while "listening as" not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"listener not ready: {self.tail()}")
            time.sleep(0.1)
        self.worker = worker_pid(self.proc.pid)

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@contextmanager
def listening(data_dir: Path, url: str, quiet_period_s: float = 120.0) -> Iterator[Listener]:
    listener = Listener(data_dir, url, quiet_period_s)
    try:
        yield listener
    finally:
        listener.stop()


def settle(
    pid: int, *, window: float = 2.0, below: float = 0.05, steady_after: float = 60.0
) -> float:
    """Wait until ``pid`` has finished its start-up: it uses less than ``below`` of a CPU over
    ``window``, or, after ``steady_after`` seconds, the same (within a quarter) over two
    windows in a row (the idle worker before issue 17 never drops under 5 %); seconds waited."""
    started = time.monotonic()
    last = -1.0
    while (waited := time.monotonic() - started) < SETTLE_TIMEOUT_S:
        before = cpu_seconds(pid)
        time.sleep(window)
        used = (cpu_seconds(pid) - before) / window
        if used < below:
            break
        if waited > steady_after and abs(used - last) <= 0.25 * max(used, last):
            break
        last = used
    return time.monotonic() - started


# --- copies of the store -----------------------------------------------------------------
def copy_database(data_dir: Path, url: str, dest: Path) -> tuple[Path, str]:
    """A data folder holding a copy of the store's SQLite database; (folder, its URL)."""
    source = Path(url.removeprefix("sqlite:///"))
    if not url.startswith("sqlite:///") or not source.exists():
        raise RuntimeError(f"bench_worker needs a SQLite store, got {url!r}")
    dest.mkdir(parents=True)
    for suffix in ("", "-wal", "-shm"):
        part = source.with_name(source.name + suffix)
        if part.exists():
            shutil.copy2(part, dest / ("vp_log.db" + suffix))
    return dest, f"sqlite:///{dest / 'vp_log.db'}"


def grow_database(data_dir: Path, studies: int, dest: Path) -> Path:
    """A data folder whose database is the store's, its rows copied until it holds ``studies``
    studies (a whole multiple of the store's), each copy's UIDs suffixed ``.<copy>``.

    For the idle figure only (nothing reads the archive or the records' content): building a
    50 000-study store through ``vp-log import`` takes hours on a loaded machine.
    """
    import sqlite3

    dest.mkdir(parents=True)
    db = dest / "vp_log.db"
    shutil.copy2(data_dir / "vp_log.db", db)
    con = sqlite3.connect(db)
    try:
        base = con.execute("SELECT count(*) FROM procedures").fetchone()[0]
        if base < 1 or studies % base:
            raise RuntimeError(f"{studies} studies is not a multiple of the store's {base}")
        max_inst = con.execute("SELECT max(id) FROM instances").fetchone()[0]
        max_obs = con.execute("SELECT max(id) FROM observations").fetchone()[0]
        max_proc = con.execute("SELECT max(id) FROM procedures").fetchone()[0]
        inst_cols = [r[1] for r in con.execute("PRAGMA table_info(instances)")]
        obs_cols = [r[1] for r in con.execute("PRAGMA table_info(observations)")]
        proc_cols = [r[1] for r in con.execute("PRAGMA table_info(procedures)")]
        suffixed = {"sop_instance_uid", "study_instance_uid", "series_instance_uid"}

        def select(cols: list[str], id_offset: str, table_max: int) -> str:
            out = []
            for col in cols:
                if col == "id":
                    out.append(f"id + {table_max} * :k")
                elif col == id_offset:
                    out.append(f"{col} + {max_inst} * :k")
                elif col in suffixed:
                    out.append(f"{col} || '.' || :k")
                else:
                    out.append(col)
            return ", ".join(out)

        for k in range(1, studies // base):
            params = {"k": k}
            con.execute(
                f"INSERT INTO instances ({', '.join(inst_cols)}) SELECT "
                f"{select(inst_cols, '', max_inst)} FROM instances WHERE id <= {max_inst}",
                params,
            )
            con.execute(
                f"INSERT INTO observations ({', '.join(obs_cols)}) SELECT "
                f"{select(obs_cols, 'instance_id', max_obs)} FROM observations "
                f"WHERE id <= {max_obs}",
                params,
            )
            con.execute(
                f"INSERT INTO procedures ({', '.join(proc_cols)}) SELECT "
                f"{select(proc_cols, '', max_proc)} FROM procedures WHERE id <= {max_proc}",
                params,
            )
            con.commit()
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    (dest / "store.json").write_text(json.dumps({"studies": studies, "grown_from": str(data_dir)}))
    return dest


def spool_names(count: int, received: datetime) -> Iterator[str]:
    """Spool file names (``<ns>-<counter>-<hash>.dcm``) as if acknowledged at ``received``."""
    ns = int(received.timestamp() * 1e9)
    for index in range(count):
        yield f"{ns + index:020d}-{index:06d}-bench{os.getpid()}x{index:08d}.dcm"


def drop_into_spool(files: list[Path], data_dir: Path, received: datetime) -> None:
    """Put ``files`` in the spool as the listener would (complete files, renamed in)."""
    ready = data_dir / "spool"
    ready.mkdir(parents=True, exist_ok=True)
    for path, name in zip(files, spool_names(len(files), received), strict=True):
        tmp = ready / ".incoming" / (name + ".part")
        tmp.parent.mkdir(exist_ok=True)
        shutil.copyfile(path, tmp)
        os.rename(tmp, ready / name)


def xa_files(out: Path, count: int, seed: int) -> list[Path]:
    from vp_log.samples.bench import write_xa_instances

    return write_xa_instances(out, count, rows=64, cols=64, frames=1, seed=seed, series_size=100)


# --- idle --------------------------------------------------------------------------------
def measure_idle(data_dir: Path, url: str, seconds: float) -> dict[str, Any]:
    with listening(data_dir, url) as lst:
        waited = settle(lst.worker)
        worker0, listener0 = cpu_seconds(lst.worker), cpu_seconds(lst.proc.pid)
        read0 = read_bytes(lst.worker)
        t0 = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - t0
        worker = cpu_seconds(lst.worker) - worker0
        listener = cpu_seconds(lst.proc.pid) - listener0
        read = read_bytes(lst.worker) - read0
    return {
        "idle_seconds": round(elapsed, 1),
        "idle_settle_s": round(waited, 1),
        "idle_worker_cpu_s": round(worker, 3),
        "idle_worker_cpu_pct": round(100 * worker / elapsed, 2),
        "idle_worker_read_mb_per_s": round(read / elapsed / 1e6, 2),
        "idle_listener_cpu_pct": round(100 * listener / elapsed, 2),
    }


# --- rebuild -----------------------------------------------------------------------------
def measure_rebuild(data_dir: Path, url: str, study_size: int, batch: int) -> dict[str, Any]:
    from vp_log import worker
    from vp_log.config import Settings
    from vp_log.db import Database
    from vp_log.pipeline import Pipeline
    from vp_log.spool import Spool

    files = xa_files(data_dir.parent / f"growing-{data_dir.name}", study_size, seed=1717)
    settings = Settings(data_dir=data_dir, database_url=url, quiet_period_s=120)
    database = Database(url)
    offset = timedelta(0)
    pipeline = Pipeline(
        settings, database, Spool(data_dir), clock=lambda: datetime.now(UTC) + offset
    )
    if hasattr(worker, "Worker"):
        one_round = worker.Worker(pipeline).round
    else:  # before issue 17, a round of worker.work was these two calls

        def one_round() -> None:
            worker.drain(pipeline)
            pipeline.complete_quiet_studies()

    one_round()  # the start-up round, not measured
    rounds: list[tuple[int, float]] = []
    try:
        for first in range(0, study_size, batch):
            drop_into_spool(files[first : first + batch], data_dir, datetime.now(UTC))
            t0, c0 = time.perf_counter(), time.process_time()
            one_round()
            rounds.append((first, time.perf_counter() - t0, time.process_time() - c0))
        offset = timedelta(seconds=settings.quiet_period_s + 1)
        t0, c0 = time.perf_counter(), time.process_time()
        done = pipeline.complete_quiet_studies()
        completion = (time.perf_counter() - t0, time.process_time() - c0)
    finally:
        database.dispose()
        shutil.rmtree(files[0].parent, ignore_errors=True)
    late = rounds[1:]  # the first batch creates the study; the rest are late batches
    return {
        "rebuild_batch": batch,
        "rebuild_round_cpu_ms_by_study_size": {str(n): round(c * 1000) for n, _, c in rounds},
        "rebuild_round_wall_ms_by_study_size": {str(n): round(w * 1000) for n, w, _ in rounds},
        "rebuild_first_late_cpu_ms": round(late[0][2] * 1000, 1),
        "rebuild_last_late_cpu_ms": round(late[-1][2] * 1000, 1),
        "rebuild_last_over_first_cpu": round(late[-1][2] / late[0][2], 2),
        "rebuild_first_late_wall_ms": round(late[0][1] * 1000, 1),
        "rebuild_last_late_wall_ms": round(late[-1][1] * 1000, 1),
        "rebuild_total_cpu_s": round(sum(c for _, _, c in rounds), 2),
        "rebuild_total_wall_s": round(sum(w for _, w, _ in rounds), 2),
        "rebuild_completion_cpu_ms": round(completion[1] * 1000, 1),
        "rebuild_completion_wall_ms": round(completion[0] * 1000, 1),
        "rebuild_completed": len(done),
    }


# --- acknowledgement latency -------------------------------------------------------------
def send_timed(
    port: int, files: list[Path], listener: Listener, until: float | None = None
) -> list[float]:
    """Seconds of each ``send_c_store`` of ``files`` in one association (datasets preloaded,
    TCP_NODELAY), stopping after ``until`` seconds if given."""
    import pydicom
    from pynetdicom import AE

    datasets = [pydicom.dcmread(f) for f in files]
    ae = AE(ae_title="BENCHSCU")
    contexts = {(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for ds in datasets}
    for sop_class, syntax in sorted(contexts):
        ae.add_requested_context(sop_class, syntax)
    assoc = ae.associate(HOST, port, ae_title="VPLOG")
    if not assoc.is_established:
        raise RuntimeError(f"association to 127.0.0.1:{port} refused")
    # As dcmtk's storescu with TCP_NODELAY=1: without it each C-STORE's second write waits
    # for the listener's delayed ACK (about 40 ms), which hides everything else.
    assoc.dul.socket.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # pynetdicom 3.0's requestor reactor can take a C-STORE-RSP off the DIMSE queue between
    # send_c_store's pause check (its _is_paused flag still True from the last round) and the
    # pause: the response is dropped as unexpected and send_c_store waits out its 30 s DIMSE
    # timeout ("answered nothing", with the listener idle: seen with the code before and
    # after issue 17, more often the faster the listener answers). This SCU sends only
    # C-STOREs, so whatever its reactor takes is the response send_c_store waits for.
    assoc._serve_request = lambda msg, context_id: assoc.dimse.msg_queue.put((context_id, msg))
    times = []
    started = time.perf_counter()
    try:
        for ds in datasets:
            t0 = time.perf_counter()
            if until is not None and t0 - started > until:
                break
            status = assoc.send_c_store(ds)
            times.append(time.perf_counter() - t0)
            if getattr(status, "Status", None) != 0:
                msg = f"C-STORE {len(times)} answered {status or 'nothing'}: {listener.tail(5)}"
                raise RuntimeError(msg)
    finally:
        assoc.release()
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def latency_figures(name: str, times: list[float]) -> dict[str, float]:
    ms = [t * 1000 for t in times]
    return {
        f"ack_{name}_p50_ms": round(statistics.median(ms), 2),
        f"ack_{name}_p90_ms": round(percentile(ms, 90), 2),
        f"ack_{name}_p99_ms": round(percentile(ms, 99), 2),
        f"ack_{name}_max_ms": round(max(ms), 2),
    }


def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def split_at(times: list[float], seconds: float) -> tuple[list[float], list[float]]:
    """``times`` (consecutive sends) before and after ``seconds`` from the first send."""
    elapsed = 0.0
    for index, t in enumerate(times):
        if elapsed >= seconds:
            return times[:index], times[index:]
        elapsed += t
    return times, []


def measure_ack(
    data_dir: Path, url: str, count: int, backlog: int, stream_s: float
) -> dict[str, Any]:
    work = data_dir.parent / f"ack-{data_dir.name}"
    idle_files = xa_files(work / "idle", count, seed=1701)
    stream_files = xa_files(work / "stream", STREAM_MAX, seed=1704)
    busy_files = xa_files(work / "busy", count, seed=1702)
    backlog_files = xa_files(work / "backlog", backlog, seed=1703)
    spool = data_dir / "spool"

    def spooled() -> int:
        return sum(1 for e in os.scandir(spool) if e.name.endswith(".dcm"))

    result: dict[str, Any] = {"ack_instances": count, "ack_backlog": backlog}
    try:
        with listening(data_dir, url) as lst:
            settle(lst.worker)
            result.update(latency_figures("idle", send_timed(lst.port, idle_files, lst)))
            if not wait_until(lambda: spooled() == 0, 300):
                raise RuntimeError("the worker did not drain the reference instances")
            settle(lst.worker)
            # The case: one association streaming for longer than the 5 s the worker
            # used to wait; the acknowledgements of the first 4 s against those after 6 s.
            cpu0 = cpu_seconds(lst.worker)
            t0 = time.monotonic()
            times = send_timed(lst.port, stream_files, lst, until=stream_s)
            elapsed = time.monotonic() - t0
            result["ack_stream_instances"] = len(times)
            result["ack_stream_worker_cpu_pct"] = round(
                100 * (cpu_seconds(lst.worker) - cpu0) / elapsed, 1
            )
            first, late = split_at(times, 4.0)
            _, late = split_at(late, 2.0)
            result.update(latency_figures("stream_first_4s", first))
            result.update(latency_figures("stream_after_6s", late))
            if not wait_until(lambda: spooled() == 0, 600):
                raise RuntimeError("the worker did not drain the streamed instances")
            settle(lst.worker)
            # The worker must work: a backlog older than it ever waits, while a PACS sends.
            drop_into_spool(backlog_files, data_dir, datetime.now(UTC) - timedelta(seconds=120))
            cpu0 = cpu_seconds(lst.worker)
            t0 = time.monotonic()
            times = send_timed(lst.port, busy_files, lst)
            elapsed = time.monotonic() - t0
            result["ack_busy_worker_cpu_pct"] = round(
                100 * (cpu_seconds(lst.worker) - cpu0) / elapsed, 1
            )
            result["ack_backlog_left"] = max(0, spooled() - count)
            result.update(latency_figures("busy", times))
            wait_until(lambda: spooled() == 0, 600)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    idle50 = result["ack_idle_p50_ms"]
    result["ack_idle_p99_over_p50"] = round(result["ack_idle_p99_ms"] / idle50, 2)
    for name in ("stream_after_6s", "busy"):
        p50 = result[f"ack_{name}_p50_ms"]
        result[f"ack_{name}_p99_over_p50"] = round(result[f"ack_{name}_p99_ms"] / p50, 2)
        result[f"ack_{name}_p50_over_idle_p50"] = round(p50 / idle50, 2)
    return result


# --- all ---------------------------------------------------------------------------------
PARTS = ("idle", "rebuild", "ack")


def measure(
    data_dir: Path,
    database_url: str,
    *,
    parts: tuple[str, ...] = PARTS,
    idle_seconds: float = 30.0,
    study_size: int = 2000,
    batch: int = 50,
    ack_count: int = 400,
    backlog: int = 3000,
    stream_s: float = 15.0,
) -> dict[str, Any]:
    """The worker's figures on a copy of the store at ``data_dir`` (see the module's text)."""
    root = Path(data_dir).parent
    with tempfile.TemporaryDirectory(dir=root, prefix="bench-worker-") as tmp:
        result: dict[str, Any] = {"load_before": load_average()}
        copy, url = copy_database(Path(data_dir), database_url, Path(tmp) / "data")
        if "idle" in parts:
            result.update(measure_idle(copy, url, idle_seconds))
            result["load_after_idle"] = load_average()
        if "rebuild" in parts:
            result.update(measure_rebuild(copy, url, study_size, batch))
            result["load_after_rebuild"] = load_average()
        if "ack" in parts:
            result.update(measure_ack(copy, url, ack_count, backlog, stream_s))
            result["load_after_ack"] = load_average()
    return result


def show(figures: dict[str, Any]) -> None:
    """The figures, one per line, within 80 columns (the per-round ones six to a line)."""
    for key, value in figures.items():
        if key.endswith("_by_study_size"):
            print(f"    {key.removesuffix('_by_study_size')} (instances before: ms):")
            items = [f"{size}:{ms}" for size, ms in value.items()]
            for first in range(0, len(items), 6):
                print("      " + " ".join(f"{item:>10}" for item in items[first : first + 6]))
        else:
            print(f"    {key}: {value}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,50000", help="store sizes, in studies")
    parser.add_argument("--store", type=Path, help="a data folder to use instead of --sizes")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="where stores are cached")
    parser.add_argument(
        "--grow",
        help="sizes (studies) to which the first store's rows are copied, for the idle part",
    )
    parser.add_argument("--parts", default=",".join(PARTS), help="idle, rebuild, ack")
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--study-size", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--ack-count", type=int, default=400)
    parser.add_argument("--backlog", type=int, default=3000)
    parser.add_argument("--stream-seconds", type=float, default=15.0)
    parser.add_argument("--json-out", type=Path, help="write every figure here as JSON")
    args = parser.parse_args()
    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    if not parts or set(parts) - set(PARTS):
        parser.error(f"--parts: expected some of {', '.join(PARTS)}, got {args.parts!r}")
    if args.store:
        stores = [args.store]
    else:
        try:
            sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
        except ValueError:
            parser.error(f"--sizes: expected numbers separated by commas, got {args.sizes!r}")
        stores = [build_store(n, args.root) for n in sizes]
    grown: list[Path] = []
    for n in [int(g) for g in (args.grow or "").split(",") if g.strip()]:
        dest = args.root / f"grown-{n}-from-{stores[0].name}"
        if not (dest / "store.json").exists():
            shutil.rmtree(dest, ignore_errors=True)
            grow_database(stores[0], n, dest)
        grown.append(dest)
    stores += grown
    results = []
    for store in stores:
        meta = store / "store.json"
        studies = json.loads(meta.read_text())["studies"] if meta.exists() else "?"
        print(f"{store} ({studies} studies; load {load_average()})", flush=True)
        figures = measure(
            store,
            database_url(store),
            parts=parts,
            idle_seconds=args.idle_seconds,
            study_size=args.study_size,
            batch=args.batch,
            ack_count=args.ack_count,
            backlog=args.backlog,
            stream_s=args.stream_seconds,
        )
        figures["studies"] = studies
        show(figures)
        results.append(figures)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
