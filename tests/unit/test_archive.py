"""The header archive: the file's own bytes before the pixel data, read back as imported."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.uid import DeflatedExplicitVRLittleEndian

import vp_log.spool as spool_module
from vp_log.config import load_settings
from vp_log.db import Database
from vp_log.db import repository as repo
from vp_log.pipeline import Pipeline, read_header
from vp_log.samples import write_case, write_xa_instances
from vp_log.spool import BatchWriter, Spool


def _pipeline(tmp_path: Path) -> Pipeline:
    settings = load_settings(data_dir=tmp_path / "data")
    return Pipeline(settings, Database(settings.db_url), Spool(settings.data_dir))


def _archived(pipeline: Pipeline) -> dict[str, Path]:
    with pipeline.database.session() as session:
        return {
            i.sop_instance_uid: pipeline.spool.data_dir / i.archive_path
            for i in repo.all_instances(session=session)
        }


def test_archive_is_the_files_bytes_up_to_the_pixel_data(tmp_path: Path) -> None:
    files = write_xa_instances(tmp_path / "src", 2, rows=16, cols=16, seed=3)
    files += write_case("vp-two-level", tmp_path / "case", seed=0, size="small").paths()
    pipeline = _pipeline(tmp_path)
    pipeline.process(files, received_from="import", from_spool=False)
    archived = _archived(pipeline)
    for path in files:
        original = pydicom.dcmread(path)
        copy = archived[str(original.SOPInstanceUID)].read_bytes()
        data = path.read_bytes()
        assert data.startswith(copy)
        if "PixelData" in original:
            assert len(copy) < len(data)
            assert data[len(copy) : len(copy) + 4] == b"\xe0\x7f\x10\x00"  # (7FE0,0010)
        again = read_header(archived[str(original.SOPInstanceUID)])
        assert "PixelData" not in again
        assert again == read_header(path)
    pipeline.database.dispose()


def test_deflated_file_is_archived_as_its_dataset_without_pixel_data(tmp_path: Path) -> None:
    (source,) = write_xa_instances(tmp_path / "src", 1, rows=16, cols=16, seed=4)
    ds = pydicom.dcmread(source)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    deflated = tmp_path / "deflated.dcm"
    ds.save_as(deflated, enforce_file_format=True)
    pipeline = _pipeline(tmp_path)
    pipeline.process([deflated], received_from="import", from_spool=False)
    (archive,) = _archived(pipeline).values()
    again = pydicom.dcmread(archive)
    assert "PixelData" not in again
    assert again.SOPInstanceUID == ds.SOPInstanceUID
    pipeline.database.dispose()


@pytest.mark.parametrize("syncfs", [True, False])
def test_batch_writer_shows_a_file_only_once_it_is_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, syncfs: bool
) -> None:
    if not syncfs:  # a system without syncfs: one fsync per file
        monkeypatch.setattr(spool_module, "_libc_syncfs", lambda: None)
    batch = BatchWriter()
    batch.write(tmp_path / "a.dcm", b"a")
    batch.write(tmp_path / "b.dcm", b"b")
    assert tmp_path / "a.dcm" in batch
    assert not (tmp_path / "a.dcm").exists()  # not before the commit
    batch.commit()
    assert (tmp_path / "a.dcm").read_bytes() == b"a" and (tmp_path / "b.dcm").read_bytes() == b"b"
    batch.write(tmp_path / "c.dcm", b"c")
    batch.discard()  # a batch that failed leaves nothing behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.dcm", "b.dcm"]
