"""Shared fixtures: real listener processes, dcmtk clients, SQLite files and PostgreSQL."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import psycopg
import pytest
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[1]


def _find_samples() -> Path:
    """``shared/samples`` beside the checkout, or beside a folder above it (a worktree)."""
    for folder in REPO.parents:
        if (folder / "shared" / "samples").is_dir():
            return folder / "shared" / "samples"
    return REPO.parent / "shared" / "samples"


SAMPLES = _find_samples()
PG_ADMIN = os.environ.get(
    "VPLOG_TEST_PG_URL", "postgresql://vp_log_test:vp_log_test@127.0.0.1:5432/postgres"
)
"""The PostgreSQL server the tests use (``bash run.sh test`` installs and sets it up): a role
that may create databases. run.sh reads the same variable with the same default."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/system is the slow tier (processes, dcmtk, PostgreSQL, browser)."""
    system = REPO / "tests" / "system"
    for item in items:
        if system in item.path.parents:
            item.add_marker(pytest.mark.system)


def sample_files() -> list[Path]:
    """Every public sample file (read from ../shared/samples, never copied)."""
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.suffix.lower() == ".dcm")


@pytest.fixture(scope="session")
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.fail(f"public sample files not found at {SAMPLES} (../shared/samples)")
    return SAMPLES


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@contextmanager
def fresh_pg_database() -> Iterator[str]:
    """A uniquely named PostgreSQL database, dropped afterwards; yields its SQLAlchemy URL."""
    if not _pg_available():
        where = make_url(PG_ADMIN).render_as_string(hide_password=True)
        pytest.fail(f"PostgreSQL does not answer at {where} (bash run.sh test sets it up)")
    name = f"vp_log_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = make_url(PG_ADMIN).set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test."""
    with fresh_pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs against a SQLite file and against PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'vp_log.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def base_env(data_dir: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VP_LOG_")}
    env["VP_LOG_DATA_DIR"] = str(data_dir)
    if database_url:
        env["VP_LOG_DATABASE_URL"] = database_url
    env.update(extra)
    return env


def run_cli(
    *args: str, env: dict[str, str], input: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``vp-log ARGS`` as a real subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "vp_log", *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"vp-log {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


@dataclass
class ListenerProcess:
    """A ``vp-log listen`` process on 127.0.0.1 with its own data folder."""

    data_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    ae_title: str = "VPLOG"
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    preexec: Callable[[], object] | None = None

    def start(self, *, wait: bool = True) -> ListenerProcess:
        self.env["VP_LOG_PORT"] = str(self.port)
        self.env.setdefault("VP_LOG_BIND_ADDRESS", "127.0.0.1")
        self.log_path = self.data_dir.parent / f"listener-{self.port}-{time.time_ns()}.log"
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vp_log", "listen"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=self.preexec,
        )
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                pytest.fail(f"listener exited with {self.proc.returncode}:\n{self.log()}")
            if "listening as" in self.log():  # after the spool of a previous run is drained
                return
            time.sleep(0.1)
        pytest.fail(f"listener did not answer C-ECHO within {timeout} s:\n{self.log()}")

    @property
    def pid(self) -> int:
        if self.proc is None:
            pytest.fail("the listener was not started")
        return self.proc.pid

    def wait_exit(self, timeout: float) -> int:
        """The exit code of a listener that is expected to stop by itself."""
        if self.proc is None:
            pytest.fail("the listener was not started")
        return self.proc.wait(timeout=timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            pytest.fail(f"listener did not stop within {timeout} s after signal {sig}")

    def kill9(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)


class ListenerFactory(Protocol):
    """``listener_factory(database_url, start=..., data_dir=..., VP_LOG_X="...")``."""

    def __call__(
        self,
        database_url: str | None = None,
        *,
        start: bool = True,
        data_dir: Path | None = None,
        **env: str,
    ) -> ListenerProcess: ...


@pytest.fixture
def listener_factory(tmp_path: Path) -> Iterator[ListenerFactory]:
    started: list[ListenerProcess] = []

    def make(
        database_url: str | None = None,
        *,
        start: bool = True,
        data_dir: Path | None = None,
        **env: str,
    ) -> ListenerProcess:
        ddir = data_dir or tmp_path / f"data{len(started)}"
        env.setdefault("VP_LOG_QUIET_PERIOD_S", "2")
        lst = ListenerProcess(ddir, base_env(ddir, database_url, **env))
        started.append(lst)
        if start:
            lst.start()
        return lst

    yield make
    for lst in started:
        if lst.proc is not None and lst.proc.poll() is None:
            lst.proc.kill()
            lst.proc.wait(timeout=10)


def require_dcmtk() -> None:
    if shutil.which("storescu") is None or shutil.which("echoscu") is None:
        pytest.fail("dcmtk (storescu, echoscu) is not installed: run the README's test command")


def echoscu(
    port: int, *, ae_title: str = "VPLOG", calling: str = "ECHOSCU"
) -> subprocess.CompletedProcess[str]:
    require_dcmtk()
    return subprocess.run(
        ["echoscu", "-to", "5", "-aet", calling, "-aec", ae_title, "127.0.0.1", str(port)],
        capture_output=True,
        text=True,
        timeout=30,
    )


def storescu(
    port: int,
    files: list[Path],
    *,
    ae_title: str = "VPLOG",
    calling: str = "STORESCU",
    extra: tuple[str, ...] = (),
) -> subprocess.CompletedProcess[str]:
    """dcmtk's storescu, all ``files`` in one association, proposing what they need."""
    require_dcmtk()
    return subprocess.run(
        [
            "storescu",
            "-v",
            "-R",
            "-xy",
            "-to",
            "30",
            "-aet",
            calling,
            "-aec",
            ae_title,
            *extra,
            "127.0.0.1",
            str(port),
            *map(str, files),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


_SENDING = re.compile(r"Sending file: (.+)$")
_STATUS = re.compile(r"Received Store Response \((.+?)\)")


def acknowledged(output: str) -> tuple[list[str], list[str]]:
    """Files storescu got a success for, and files it got another answer (or none) for."""
    ok: list[str] = []
    other: list[str] = []
    current: str | None = None
    for line in output.splitlines():
        if m := _SENDING.search(line):
            if current is not None:
                other.append(current)
            current = m.group(1).strip()
        elif (m := _STATUS.search(line)) and current is not None:
            (ok if m.group(1).startswith("Success") else other).append(current)
            current = None
    if current is not None:
        other.append(current)
    return ok, other


def wait_for(predicate: Callable[[], object], timeout: float = 60, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed key and certificate for 127.0.0.1 (openssl), the key mode 0600."""
    key, cert = folder / "key.pem", folder / "cert.pem"
    made = subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    key.chmod(0o600)
    return key, cert
