"""Stores of generated studies for the store-growth benchmarks (issue 15).

``build_store(n_studies, root)`` returns a data folder (``VP_LOG_DATA_DIR``) whose SQLite
database (``vp_log.db``, the default URL for that folder) holds ``n_studies`` studies of four
header-sized instances each (a spot image, a cine run, a presentation state with the staff's
annotation, an X-Ray Radiation Dose SR), really brought in with ``vp-log import``.

The studies come from :func:`vp_log.samples.write_case` (the four cases in turn, dates spread
over about ten years): up to :data:`TEMPLATES` generated studies serve as templates, and study
``i`` is template ``i % TEMPLATES`` with its own study, series and instance UIDs, patient and
accession number. Study ``i`` is the same whatever the size of the store.

The store is cached as ``root/store-<n_studies>-<version>/``, where ``version`` is a digest of
the code that shapes what a store holds (the samples, extraction, assembly, the pipeline, the
tables and migrations), so a change to any of those builds a fresh store. A bigger store is
built from the biggest smaller one of the same version (copied, then the missing studies
imported). ``fresh_studies(first, count, out)`` writes further studies (the same generator,
indexes from ``first``) for benchmarks that import into a copy of a store.

Command line: ``python bench/store.py 1000 [--root bench/out]`` builds (or finds) the store
and prints its folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from vp_log.config import Settings
from vp_log.samples import CaseName, write_case
from vp_log.samples.manifest import Role

ROOT = Path(__file__).resolve().parent
SRC = ROOT.parent / "src" / "vp_log"
DEFAULT_ROOT = ROOT / "out"
TEMPLATES = 200
"""Generated studies used as templates (the rest are copies under new UIDs)."""
CHUNK = 250
"""Studies per ``vp-log import`` call while building."""
ROLES = (Role.SPOT, Role.CINE, Role.PRESENTATION_STATE, Role.DOSE_SR)
INSTANCES_PER_STUDY = len(ROLES)
_FIRST_START = datetime(2015, 1, 5, 8, 30)
_VERSIONED = (
    "samples",
    "extract",
    "pipeline.py",
    "assemble.py",
    "record.py",
    "models.py",
    "vocabulary.py",
    "defaults",
    "db/tables.py",
    "db/followup_tables.py",
    "db/repository.py",
    "db/migrations",
)
_FORMAT = "1"  # bump when this file changes what it builds


def parse_sizes(parser: argparse.ArgumentParser, text: str) -> list[int]:
    """``--sizes 1000,10000``: store sizes in studies, each at least 1 (else the parser's error)."""
    try:
        sizes = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes: expected numbers separated by commas, got {text!r}")
    if not sizes or min(sizes) < 1:
        parser.error(f"--sizes: every size must be at least 1, got {text!r}")
    return sizes


def code_version() -> str:
    """A digest of the code that shapes a store's content (12 hex digits)."""
    digest = hashlib.sha256(_FORMAT.encode())
    for name in _VERSIONED:
        base = SRC / name
        files = sorted(base.rglob("*")) if base.is_dir() else [base]
        for path in files:
            if path.is_file() and path.suffix in {".py", ".toml", ".ini", ".mako"}:
                digest.update(str(path.relative_to(SRC)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def vp_log_env(data_dir: Path) -> dict[str, str]:
    """The environment of a ``vp-log`` command on ``data_dir`` (no site's VP_LOG_* leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VP_LOG_")}
    env["VP_LOG_DATA_DIR"] = str(data_dir)
    return env


def vp_log_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "vp_log", *args]


def database_url(data_dir: Path) -> str:
    """The URL ``vp-log`` uses for ``data_dir`` when none is set (the project's own rule)."""
    return Settings(data_dir=data_dir, database_url="").db_url


# --- generating studies ------------------------------------------------------------------


@dataclass
class _Template:
    datasets: list[Dataset]
    uid_elements: list[tuple[DataElement, str]]  # every UI element holding a mapped UID
    uids: tuple[str, ...]  # the study, series and instance UIDs of the template
    patient: tuple[str, str, str]  # its patient ID, name and accession number


def _template(index: int, work: Path) -> _Template:
    cases = list(CaseName)
    case = cases[index % len(cases)]
    start = _FIRST_START + timedelta(days=18 * index, hours=index % 9)
    out = work / f"template-{index}"
    manifest = write_case(case, out, seed=index, start=start)
    datasets: list[Dataset] = []
    for role in ROLES:
        first = next(f for f in manifest.files if f.role is role)
        datasets.append(pydicom.dcmread(first.path))
    shutil.rmtree(out)
    uids = {manifest.study_instance_uid}
    for ds in datasets:
        uids |= {str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)}
    elements: list[tuple[DataElement, str]] = []
    for ds in datasets:
        for dataset in (ds.file_meta, ds):
            for elem in dataset.iterall():
                if elem.VR == "UI" and str(elem.value) in uids:
                    elements.append((elem, str(elem.value)))
    first_ds = datasets[0]
    patient = (str(first_ds.PatientID), str(first_ds.PatientName), str(first_ds.AccessionNumber))
    return _Template(datasets, elements, tuple(sorted(uids)), patient)


class StudyWriter:
    """Writes study ``i`` of the benchmark stores (templates made on first use)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self._templates: dict[int, _Template] = {}

    def write(self, index: int, out: Path) -> list[Path]:
        key = index % TEMPLATES
        if key not in self._templates:
            self._templates[key] = _template(key, self.work)
        template = self._templates[key]
        copy = index >= TEMPLATES
        mapping = {
            uid: str(pydicom.uid.generate_uid(entropy_srcs=["vp_log.bench.store", str(index), uid]))
            if copy
            else uid
            for uid in template.uids
        }
        for elem, original in template.uid_elements:
            elem.value = mapping[original]
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for number, ds in enumerate(template.datasets, 1):
            if copy:
                ds.PatientID = f"BS{index:07d}"
                ds.PatientName = f"STORE^PATIENT{index}"
                ds.AccessionNumber = f"BSA{index:07d}"
            else:
                ds.PatientID, ds.PatientName, ds.AccessionNumber = template.patient
            path = out / f"{index:07d}_{number}.dcm"
            pydicom.dcmwrite(path, ds, enforce_file_format=True)
            paths.append(path)
        return paths


def fresh_studies(first: int, count: int, out: Path) -> list[Path]:
    """Write studies ``first .. first + count - 1`` into ``out``; return the files."""
    writer = StudyWriter(out / ".templates")
    paths: list[Path] = []
    for index in range(first, first + count):
        paths.extend(writer.write(index, out))
    shutil.rmtree(out / ".templates", ignore_errors=True)
    return paths


# --- building stores ---------------------------------------------------------------------


def _cached(root: Path, version: str) -> Iterator[tuple[int, Path]]:
    for path in root.glob(f"store-*-{version}"):
        meta = path / "store.json"
        if meta.exists():
            yield json.loads(meta.read_text())["studies"], path


def import_folder(folder: Path, data_dir: Path) -> dict[str, object]:
    """``vp-log import --json folder`` into ``data_dir``; its summary (raises if it failed)."""
    done = subprocess.run(
        vp_log_command("import", "--json", str(folder)),
        env=vp_log_env(data_dir),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"vp-log import failed ({done.returncode}): {done.stderr[-2000:]}")
    summary: dict[str, object] = json.loads(done.stdout)
    return summary


def build_store(n_studies: int, root: Path = DEFAULT_ROOT) -> Path:
    """The data folder of a store of ``n_studies`` studies (built once, then cached)."""
    if n_studies < 1:
        raise ValueError(f"n_studies must be at least 1, got {n_studies}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    version = code_version()
    target = root / f"store-{n_studies}-{version}"
    if (target / "store.json").exists():
        return target
    partial = root / f".building-store-{n_studies}-{version}-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    smaller = [(n, p) for n, p in _cached(root, version) if n < n_studies]
    have = 0
    if smaller:
        have, source = max(smaller)
        shutil.copytree(source, partial, symlinks=True)
        (partial / "store.json").unlink()
    partial.mkdir(parents=True, exist_ok=True)
    writer = StudyWriter(partial / ".templates")
    chunks: list[dict[str, float]] = []
    started = time.perf_counter()
    for first in range(have, n_studies, CHUNK):
        count = min(CHUNK, n_studies - first)
        folder = partial / ".incoming"
        shutil.rmtree(folder, ignore_errors=True)
        for index in range(first, first + count):
            writer.write(index, folder)
        t0 = time.perf_counter()
        summary = import_folder(folder, partial)
        seconds = time.perf_counter() - t0
        expected = count * INSTANCES_PER_STUDY
        if summary["new"] != expected or summary["rejected"]:
            raise RuntimeError(f"studies {first}..{first + count - 1}: {summary}")
        chunks.append({"first": first, "instances": expected, "seconds": round(seconds, 3)})
        shutil.rmtree(folder)
        print(
            f"store {n_studies}: {first + count} studies ({expected / seconds:.0f} inst/s)",
            file=sys.stderr,
            flush=True,
        )
    shutil.rmtree(partial / ".templates", ignore_errors=True)
    meta = {
        "studies": n_studies,
        "instances": n_studies * INSTANCES_PER_STUDY,
        "version": version,
        "built_from": have,
        "build_seconds": round(time.perf_counter() - started, 1),
        "import_chunks": chunks,
    }
    (partial / "store.json").write_text(json.dumps(meta, indent=1))
    if target.exists():  # built meanwhile by another process
        shutil.rmtree(partial)
    else:
        partial.rename(target)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("studies", type=int)
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    args = parser.parse_args()
    print(build_store(args.studies, args.root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
