"""Pseudonyms for exports: a keyed HMAC, one date offset per patient, ages capped at 90+.

The key (32 random bytes) is made once in the data folder (``export_key``, mode 0600) and never
exported; the same key gives the same pseudonyms in the next export, so exports can be joined
without ever carrying an identifier. The approach follows DICOM PS3.15 Annex E: the Basic
Application Level Confidentiality Profile (DCM 113100) with the Retain Longitudinal Temporal
Information with Modified Dates Option (DCM 113107).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from vp_log.report.cohort import ReportError

KEY_FILE = "export_key"
KEY_BYTES = 32
#: Dates move back by 1 … MAX_SHIFT_DAYS days, one offset per patient.
MAX_SHIFT_DAYS = 3650
OLDEST_AGE = 89
"""Ages above this are written as ``90+`` (HIPAA Safe Harbor; PS3.15 allows coarsening)."""

PROFILE_CODES = (
    {
        "code_value": "113100",
        "coding_scheme_designator": "DCM",
        "code_meaning": "Basic Application Confidentiality Profile",
    },
    {
        "code_value": "113107",
        "coding_scheme_designator": "DCM",
        "code_meaning": "Retain Longitudinal Temporal Information Modified Dates Option",
    },
)


def load_key(data_dir: Path) -> bytes:
    """The export key of this data folder, made on first use (mode 0600)."""
    path = data_dir / KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(KEY_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        msg = f"the export key {path} can be read by others (mode {mode:04o}); run chmod 600 {path}"
        raise ReportError(msg)
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        msg = f"the export key {path} is damaged ({len(key)} bytes, expected {KEY_BYTES})"
        raise ReportError(msg)
    return key


class Pseudonymiser:
    """Pseudonyms and date offsets from one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _digest(self, purpose: str, value: str) -> bytes:
        return hmac.new(self._key, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest()

    def pseudonym(self, purpose: str, value: str | None) -> str | None:
        """``purpose`` (``patient``, ``accession``, ``study``) keeps the name spaces apart."""
        if value is None or value == "":
            return None
        prefix = {"patient": "P", "accession": "A", "study": "S"}.get(purpose, "X")
        return f"{prefix}{self._digest(purpose, value).hex()[:16]}"

    def shift_days(self, patient: str) -> int:
        """The patient's offset: every date of theirs moves back by the same 1 … 3650 days."""
        number = int.from_bytes(self._digest("date-shift", patient)[:4], "big")
        return -(number % MAX_SHIFT_DAYS + 1)

    def shift(self, patient: str, day: dt.date | None) -> dt.date | None:
        return None if day is None else day + dt.timedelta(days=self.shift_days(patient))


def coarse_age(age: int | None) -> str | None:
    """Age as text, ``90+`` above 89."""
    if age is None:
        return None
    return f"{OLDEST_AGE + 1}+" if age > OLDEST_AGE else str(age)
