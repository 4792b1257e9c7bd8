"""Generated DICOM sample cases (for tests) and benchmark data (for ``bench/``).

Stable API (other tests and benchmarks rely on it)::

    from vp_log.samples import write_case, CaseManifest

    manifest = write_case("vp-two-level", tmp_path, seed=0, size="small")
    manifest.paths()              # the files written, in order
    manifest.procedure_type       # "vertebroplasty"
    manifest.levels               # (LevelExpectation(level="T12", cement_ml=3.5, ...), ...)

Cases (:class:`CaseName`): ``vp-two-level``, ``kp-one-level``, ``sacroplasty-bilateral``,
``non-augmentation``. Each is one complete study: XA or RF spot images and multi-frame cine
runs (uncompressed 8-bit, Explicit VR Little Endian), a Grayscale Softcopy Presentation State
whose text objects carry what staff type (``T12 3,5 ml bipedicular``), a Comprehensive SR
(TID 1500) with the cement volume per level (NUM 118565006 "Volume" in ``ml`` with a Finding
Site coded as the vertebra), an X-Ray Radiation Dose SR (TID 10001), CPT procedure codes.

Functions:

- ``write_case(case, out_dir, *, seed=0, size="small") -> CaseManifest``: writes the files
  directly into ``out_dir`` as ``NNN_<modality>_<role>.dcm``. Same arguments, same bytes.
- ``case_manifest(case, out_dir, *, seed=0, size="small") -> CaseManifest``: the same
  manifest without writing anything.
- ``write_all_cases(out_dir, *, seed=0, size="small") -> list[CaseManifest]``: every case into
  ``out_dir/<case>/``.
- ``write_xa_instances(out_dir, count, *, rows=64, cols=64, frames=1, seed=0,
  study_uid=None, series_size=100) -> list[Path]``: many cheap XA instances of one study.
- ``write_large_xa(path, *, rows=1024, cols=1024, frames=500, seed=0, study_uid=None)
  -> Path``: one multi-frame XA written streaming (the pixel data is never held in memory).
- ``write_bench_set(name, out_dir, *, seed=0) -> BenchSet``: benchmark set ``A`` (1000
  single-frame 512x512), ``B`` (20 cine runs 512x512x60) or ``C`` (one 524 MB instance).

:class:`CaseManifest` fields: ``case``, ``seed``, ``size``, ``out_dir``,
``study_instance_uid``, ``accession_number``, ``patient_id``, ``patient_name``,
``patient_birth_date``, ``patient_sex``, ``study_date``, ``study_description``,
``timezone_offset``, ``procedure_type``, ``procedure_codes``, ``levels`` (``level``,
``cement_ml``, ``approach``, ``side``), ``total_cement_ml``, ``annotations``,
``fluoro_time_s``, ``acquisition_time_s``, ``dap_gy_cm2`` (and ``_fluoro_``/``_acquisition_``
parts), ``ka_r_mgy`` (and parts), ``irradiation_events``, ``irradiation_event_uids``,
``planes``, ``start``, ``end``, ``duration_s``, ``device``, ``operators``,
``performing_physician``, ``modalities``, ``series_count``, ``instance_count``, ``files``
(:class:`InstanceFile`: ``path``, ``role``, ``modality``, ``sop_class_uid``,
``sop_instance_uid``, ``series_instance_uid``, ``series_number``, ``instance_number``,
``number_of_frames``, ``rows``, ``columns``, ``irradiation_event_uid``,
``acquisition_datetime``, ``size_bytes``).

Command line: ``python -m vp_log.samples --help``. What each case holds: see
``dicom_samples/README.md``.
"""

from __future__ import annotations

from pathlib import Path

from vp_log.samples.bench import (
    BENCH_SETS,
    BenchSet,
    write_bench_set,
    write_large_xa,
    write_xa_instances,
)
from vp_log.samples.generate import SIZES, case_manifest, write_case
from vp_log.samples.manifest import (
    CaseManifest,
    CaseName,
    Device,
    InstanceFile,
    LevelExpectation,
    Role,
    Size,
)


def write_all_cases(
    out_dir: Path | str, *, seed: int = 0, size: Size | str = Size.SMALL
) -> list[CaseManifest]:
    """Write every case into ``out_dir/<case>/``."""
    return [write_case(case, Path(out_dir) / case.value, seed=seed, size=size) for case in CaseName]


__all__ = [
    "BENCH_SETS",
    "SIZES",
    "BenchSet",
    "CaseManifest",
    "CaseName",
    "Device",
    "InstanceFile",
    "LevelExpectation",
    "Role",
    "Size",
    "case_manifest",
    "write_all_cases",
    "write_bench_set",
    "write_case",
    "write_large_xa",
    "write_xa_instances",
]
