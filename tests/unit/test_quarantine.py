"""Quarantine listing and retry: back into the spool under the original name, reason removed."""

from __future__ import annotations

from pathlib import Path

import pytest

from vp_log.quarantine import QuarantineError, find_quarantined, list_quarantined, retry
from vp_log.spool import Spool


def test_list_newest_first_and_retry_keeps_the_received_time(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "data")
    first = spool.ready / f"{1_700_000_000_000_000_000:020d}-000001-{'a' * 32}.dcm"
    first.write_bytes(b"not dicom")
    received = Spool.received_time(first)
    q1 = spool.to_quarantine(first, "cannot read: not DICOM")
    second = spool.ready / f"{1_700_000_000_100_000_000:020d}-000002-{'b' * 32}.dcm"
    second.write_bytes(b"also not")
    spool.to_quarantine(second, "missing SOP Instance UID")
    listed = list_quarantined(spool.quarantine)
    assert [q.reason for q in listed] == ["missing SOP Instance UID", "cannot read: not DICOM"]
    dest = retry(spool, find_quarantined(spool.quarantine, q1.name))
    assert dest.parent == spool.ready and dest.name == first.name
    assert Spool.received_time(dest) == received
    assert dest.read_bytes() == b"not dicom"
    assert [q.name for q in list_quarantined(spool.quarantine)] == [second.name]
    assert not (spool.quarantine / (q1.name + ".reason.txt")).exists()


def test_find_refuses_names_outside_the_quarantine(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "data")
    with pytest.raises(QuarantineError, match=r"no quarantined file nothing\.dcm"):
        find_quarantined(spool.quarantine, "nothing.dcm")
    with pytest.raises(QuarantineError, match="not in the quarantine folder"):
        find_quarantined(spool.quarantine, "/etc/passwd")
    (spool.quarantine / "x.dcm.reason.txt").write_text("why")
    with pytest.raises(QuarantineError):
        find_quarantined(spool.quarantine, "x.dcm.reason.txt")
