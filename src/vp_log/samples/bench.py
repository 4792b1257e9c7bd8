"""Many or large XA instances, for crash tests and the ingest benchmark (issue 2).

- :func:`write_xa_instances`: ``count`` instances of one study, cheaply (one header built once,
  only UIDs and numbers change; the pixel bytes are shared).
- :func:`write_large_xa`: one multi-frame instance written in a streaming way: the header with
  pydicom, then the Pixel Data element header with its exact length, then the frames in chunks,
  so memory stays at one frame whatever the file size.
- :func:`write_bench_set`: the benchmark sets A (1000 single-frame 512x512), B (20 cine runs
  512x512x60) and C (one 1024x1024x500 instance, 524 288 000 pixel bytes).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import Tag
from pydicom.uid import UID, ExplicitVRLittleEndian

from vp_log.samples._dicom import XA_IMAGE, make_uid
from vp_log.samples._pixels import base_frame, iter_frames, pixel_bytes

BENCH_SETS: dict[str, tuple[int, int, int, int]] = {
    "A": (1000, 512, 512, 1),
    "B": (20, 512, 512, 60),
    "C": (1, 1024, 1024, 500),
}
"""Benchmark set name -> (instances, rows, columns, frames)."""

_ACQUIRED = datetime(2024, 6, 3, 10, 15, 0)


@dataclass(frozen=True)
class BenchSet:
    """What :func:`write_bench_set` wrote."""

    name: str
    study_instance_uid: str
    files: tuple[Path, ...]
    total_bytes: int
    pixel_bytes_per_instance: int


def _xa_header(
    *,
    rows: int,
    cols: int,
    frames: int,
    seed: int,
    study_uid: str,
    description: str,
) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = XA_IMAGE
    ds.PatientName = f"BENCH^SEED{seed}"
    ds.PatientID = f"{seed:08d}"
    ds.PatientBirthDate = "19500101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = _ACQUIRED.strftime("%Y%m%d")
    ds.StudyTime = _ACQUIRED.strftime("%H%M%S")
    ds.StudyID = "1"
    ds.AccessionNumber = f"B{seed:07d}"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = description
    ds.Modality = "XA"
    ds.SeriesDescription = description
    ds.Manufacturer = "Example Medical"
    ds.ManufacturerModelName = "AngioSim 9"
    ds.DeviceSerialNumber = "EX-90412"
    ds.SoftwareVersions = "VB30A-sim"
    ds.AcquisitionDateTime = _ACQUIRED.strftime("%Y%m%d%H%M%S")
    ds.ContentDate = ds.StudyDate
    ds.ContentTime = ds.StudyTime
    ds.ImageType = ["ORIGINAL", "PRIMARY", "SINGLE PLANE"]
    ds.PatientOrientation = ""
    ds.PixelIntensityRelationship = "LIN"
    ds.LossyImageCompression = "00"
    ds.KVP = "80"
    ds.RadiationSetting = "GR"
    ds.PositionerPrimaryAngle = "0"
    ds.PositionerSecondaryAngle = "0"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
        ds.FrameIncrementPointer = Tag("FrameTime")
        ds.FrameTime = "66.67"
        ds.CineRate = 15
        ds.PositionerMotion = "STATIC"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(XA_IMAGE)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


def _check_dims(count: int, rows: int, cols: int, frames: int) -> None:
    for name, value in (("count", count), ("rows", rows), ("cols", cols), ("frames", frames)):
        if value < 1:
            raise ValueError(f'Argument "{name}" must be a positive integer, got {value}.')


def write_xa_instances(
    out_dir: Path | str,
    count: int,
    *,
    rows: int = 64,
    cols: int = 64,
    frames: int = 1,
    seed: int = 0,
    study_uid: str | None = None,
    series_size: int = 100,
) -> list[Path]:
    """Write ``count`` XA instances of one study into ``out_dir``; return their paths.

    Instances are grouped ``series_size`` to a series and named ``XA_000001.dcm`` and on.
    Deterministic: the same arguments give the same bytes. Fast enough for tests (300 small
    instances in a fraction of a second).
    """
    _check_dims(count, rows, cols, frames)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key = f"xa:{seed}:{count}:{rows}x{cols}x{frames}"
    study = study_uid or make_uid("bench", key, "study")
    ds = _xa_header(
        rows=rows, cols=cols, frames=frames, seed=seed, study_uid=study, description="XA bench"
    )
    ds.add_new(0x7FE00010, "OB", pixel_bytes(rows, cols, frames, key))
    paths: list[Path] = []
    for index in range(count):
        series_index = index // max(1, series_size)
        ds.SeriesInstanceUID = make_uid("bench", key, study, "series", str(series_index))
        ds.SeriesNumber = series_index + 1
        ds.InstanceNumber = index % max(1, series_size) + 1
        ds.SOPInstanceUID = make_uid("bench", key, study, "instance", str(index))
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        path = out / f"XA_{index + 1:06d}.dcm"
        dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


def write_large_xa(
    path: Path | str,
    *,
    rows: int = 1024,
    cols: int = 1024,
    frames: int = 500,
    seed: int = 0,
    study_uid: str | None = None,
) -> Path:
    """Write one multi-frame XA instance, streaming the pixel data frame by frame.

    The defaults give 524 288 000 bytes of pixel data (benchmark set C). Peak memory is a few
    frames, not the file size.
    """
    _check_dims(1, rows, cols, frames)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    key = f"large:{seed}:{rows}x{cols}x{frames}"
    study = study_uid or make_uid("bench", key, "study")
    ds = _xa_header(
        rows=rows, cols=cols, frames=frames, seed=seed, study_uid=study, description="XA large"
    )
    ds.SeriesInstanceUID = make_uid("bench", key, study, "series")
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SOPInstanceUID = make_uid("bench", key, study, "instance")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    length = rows * cols * frames
    padded = length + (length % 2)
    if padded >= 0xFFFFFFFF:
        raise ValueError(f"Pixel data of {length} bytes does not fit a 32-bit element length.")
    base = base_frame(rows, cols, key)
    with target.open("wb") as fh:
        dcmwrite(fh, ds, enforce_file_format=True)
        # (7FE0,0010) OB, explicit VR little endian: tag, VR, 2 reserved bytes, 32-bit length.
        fh.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, padded))
        for frame in iter_frames(base, rows, cols, frames):
            fh.write(frame)
        if padded != length:
            fh.write(b"\x00")
    return target


def write_bench_set(name: str, out_dir: Path | str, *, seed: int = 0) -> BenchSet:
    """Write benchmark set ``A``, ``B`` or ``C`` (see :data:`BENCH_SETS`) into ``out_dir``."""
    key = name.upper()
    if key not in BENCH_SETS:
        raise ValueError(f'Argument "name" must be one of A, B, C; got {name!r}.')
    count, rows, cols, frames = BENCH_SETS[key]
    out = Path(out_dir)
    study = make_uid("bench-set", key, str(seed))
    if key == "C":
        files = [
            write_large_xa(
                out / "XA_large.dcm",
                rows=rows,
                cols=cols,
                frames=frames,
                seed=seed,
                study_uid=study,
            )
        ]
    else:
        files = write_xa_instances(
            out, count, rows=rows, cols=cols, frames=frames, seed=seed, study_uid=study
        )
    return BenchSet(
        name=key,
        study_instance_uid=study,
        files=tuple(files),
        total_bytes=sum(p.stat().st_size for p in files),
        pixel_bytes_per_instance=rows * cols * frames,
    )
