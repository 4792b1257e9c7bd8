"""Received or imported files → archive, instance rows, observations, procedure records.

The same steps serve the listener's worker (files from the spool) and ``vp-log import``
(files left where they are): read the header (``stop_before_pixels``), extract, archive a
header-only copy (durably), store idempotently on the SOP Instance UID, re-assemble the
studies touched. A spool file is removed only after the database commit.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import logging
import os
import re
import shutil
import traceback
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from sqlalchemy.exc import InterfaceError, OperationalError, StatementError
from sqlalchemy.orm import Session

from vp_log.assemble import AssemblyContext, InstanceSummary, assemble_record
from vp_log.config import Settings
from vp_log.db import Database
from vp_log.db import repository as repo
from vp_log.extract import ExtractionContext, extract_all
from vp_log.limits import LimitExceeded, Limits, check_dataset, prescan, time_limit
from vp_log.models import Kind, Observation, Provenance
from vp_log.record import ProcedureRecord, Status
from vp_log.spool import BatchWriter, Spool, fsync_dir
from vp_log.vocabulary import load_vocabulary

logger = logging.getLogger(__name__)

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
MAX_UID_LENGTH = 128  # the columns' size; DICOM allows 64, some devices overrun it
_VALID_UID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
_DISK_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EIO, errno.EROFS, errno.EDQUOT, errno.EMFILE, errno.ENFILE}
    | {errno.ENOMEM, errno.EACCES, errno.EPERM}
)


class Outcome(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Result:
    path: Path
    outcome: Outcome
    sop_instance_uid: str | None = None
    study_instance_uid: str | None = None
    reason: str | None = None
    flags: tuple[str, ...] = ()


def is_data_error(exc: StatementError) -> bool:
    """A statement refused for its values (too long, bad text), not a database that is down."""
    return not isinstance(exc, OperationalError | InterfaceError)


def is_disk_error(exc: OSError) -> bool:
    """An ``OSError`` about the disk (full, read-only, I/O error), not about a file's content."""
    return exc.errno in _DISK_ERRNOS


class RejectedFile(ValueError):
    """A file that cannot become an instance; the message says why (one line).

    ``kind`` says what sort of reason it is, for machines (``quarantine list``): ``unreadable``
    (pydicom could not read it), ``invalid`` (read, but not an instance we can store),
    ``limit`` (``limit`` names the setting), ``database`` (refused by the database),
    ``error`` (an unexpected exception; ``details`` holds the traceback).
    """

    def __init__(
        self,
        message: str,
        *,
        kind: str = "invalid",
        limit: str | None = None,
        details: str = "",
        sop_instance_uid: str | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.limit = limit
        self.details = details
        self.sop_instance_uid = sop_instance_uid


def rejection(exc: BaseException, *, sop_instance_uid: str | None = None) -> RejectedFile:
    """Any exception met while reading one file, as the :class:`RejectedFile` that sets it aside."""
    if isinstance(exc, RejectedFile):
        if sop_instance_uid and not exc.sop_instance_uid:
            exc.sop_instance_uid = sop_instance_uid
        return exc
    details = "".join(traceback.format_exception(exc))
    if isinstance(exc, LimitExceeded):
        return RejectedFile(
            str(exc), kind="limit", limit=exc.limit, sop_instance_uid=sop_instance_uid
        )
    if isinstance(exc, RecursionError):
        return RejectedFile(
            "limit max_sequence_depth exceeded: nesting too deep to read",
            kind="limit",
            limit="max_sequence_depth",
            details=details,
            sop_instance_uid=sop_instance_uid,
        )
    if isinstance(exc, MemoryError):
        return RejectedFile(
            "limit max_memory_mb exceeded: the file needs more memory than allowed",
            kind="limit",
            limit="max_memory_mb",
            details=details,
            sop_instance_uid=sop_instance_uid,
        )
    frames = traceback.extract_tb(exc.__traceback__)
    if frames and f"{os.sep}pydicom{os.sep}" in frames[-1].filename:
        # Raised inside pydicom while it decoded a value: the file's content is at fault.
        return RejectedFile(
            f"unreadable DICOM content: {type(exc).__name__}: {_one_line(exc)}",
            kind="unreadable",
            details=details,
            sop_instance_uid=sop_instance_uid,
        )
    return RejectedFile(
        f"processing failed: {type(exc).__name__}: {_one_line(exc)}",
        kind="error",
        details=details,
        sop_instance_uid=sop_instance_uid,
    )


@dataclass
class _Parsed:
    path: Path
    dataset: Dataset | None  # dropped once archived: a batch keeps observations only
    sop_instance_uid: str
    study_instance_uid: str
    observations: list[Observation]
    sop_class_uid: str = ""
    series_instance_uid: str = ""
    modality: str = ""
    transfer_syntax_uid: str = ""
    flags: tuple[str, ...] = ()
    header: bytes | None = None  # the file's bytes before the pixel data (dropped with dataset)


@dataclass
class _StudyInputs:
    """A study's instances and observations as a batch stored them, for its assembly.

    What assembly would read back from the database (the same rows, in the same order), kept
    from the batches that wrote them; used only while they are all the study's instances.
    """

    instances: list[InstanceSummary] = dataclasses.field(default_factory=list)
    observations: list[Observation] = dataclasses.field(default_factory=list)

    def add(
        self,
        instance: InstanceSummary,
        observations: Sequence[Observation],
        rows: Sequence[Mapping[str, Any]],
    ) -> None:
        """One stored instance: each observation as its row holds it (the observation itself
        when the row holds just that, as is usual)."""
        self.instances.append(instance)
        uid = instance.sop_instance_uid
        self.observations.extend(
            o if _holds(row, o, uid) else repo.stored_observation(uid, row)
            for o, row in zip(observations, rows, strict=True)
        )


def _holds(row: Mapping[str, Any], o: Observation, sop_instance_uid: str) -> bool:
    """Whether ``row`` (written from ``o``) reads back as ``o``: nothing was dropped on the
    way in (NUL characters), and ``o`` names the instance under the UID it is stored as."""
    provenance = o.provenance
    return (
        provenance.sop_instance_uid == sop_instance_uid
        and row["value"] == o.value
        and row["path"] == provenance.path
        and row["raw"] == provenance.raw
        and row["event_uid"] == o.event_uid
        and row["flags"] == list(o.flags)
    )


def _by_study(
    batch: Sequence[tuple[int, str, Sequence[Observation]]],
    instances: Sequence[InstanceSummary],
    rows: Sequence[Sequence[Mapping[str, Any]]],
) -> dict[str, _StudyInputs]:
    """A stored batch (``(instance id, study UID, observations)``, each instance's summary and
    the rows written for it) as each study's inputs."""
    held: dict[str, _StudyInputs] = {}
    for (_, study_uid, observations), instance, instance_rows in zip(
        batch, instances, rows, strict=True
    ):
        held.setdefault(study_uid, _StudyInputs()).add(instance, observations, instance_rows)
    return held


MAX_HELD_INSTANCES = 1000
"""Instances whose inputs a pipeline keeps for assembly at most; beyond, it reads them back.
(About 60 KB each for the benchmark's mix of images and dose reports: 60 MB at most; an
import holds two batches, a reextract group of 100 four-instance studies 400.)"""


def load_contexts(settings: Settings) -> tuple[ExtractionContext, AssemblyContext]:
    """What extraction and assembly need of the site: the vocabulary file (its words and its
    ``[plausibility]`` limits) and the quiet period. A bad vocabulary raises
    ``VocabularyError``."""
    vocabulary = load_vocabulary(settings.vocabulary_path)
    return (
        ExtractionContext(vocabulary=vocabulary),
        AssemblyContext(vocabulary=vocabulary, quiet_period_s=settings.quiet_period_s),
    )


def read_header(path: Path, limits: Limits | None = None) -> Dataset:
    """The dataset without pixel data; :class:`RejectedFile` naming the problem otherwise.

    Values longer than ``limits.max_text_bytes`` are not read (pydicom's ``defer_size``);
    :func:`vp_log.limits.check_dataset` judges them by their length. An ``OSError`` about
    the disk (not the file's content) is raised as it is: the file stays where it is and
    is tried again, it is not rejected.
    """
    return _read_header(path, limits or Limits(), keep_bytes=False)[0]


def _read_header(path: Path, limits: Limits, *, keep_bytes: bool) -> tuple[Dataset, bytes | None]:
    """:func:`read_header`, and (``keep_bytes``) the file's own bytes before the pixel data.

    Those bytes are what the header archive keeps: the preamble, file meta and every element
    up to the pixel data, exactly as received, so ``vp-log reextract`` reads what the import
    read. ``None`` when they are not that (a deflated data set is compressed as a whole,
    pixel data included): the archive then encodes the dataset itself (:func:`header_bytes`).
    """
    try:
        prescan(path, limits)
        with open(path, "rb") as fh:
            ds = pydicom.dcmread(fh, stop_before_pixels=True, defer_size=limits.max_text_bytes)
            header_size = fh.tell()  # pydicom rewinds to the pixel data tag
            raw: bytes | None = None
            if keep_bytes and header_size <= limits.max_header_bytes and not _deflated(ds):
                fh.seek(0)
                raw = fh.read(header_size)
    except InvalidDicomError:  # pydicom's text tells the reader to force=True: not for users
        msg = "not a DICOM file (no DICM prefix or file meta)"
        raise RejectedFile(msg, kind="unreadable") from None
    except OSError as exc:
        if is_disk_error(exc) or isinstance(exc, FileNotFoundError):
            raise
        msg = f"unreadable DICOM header: {type(exc).__name__}: {_one_line(exc)}"
        raise RejectedFile(msg, kind="unreadable") from None
    except (LimitExceeded, MemoryError, RecursionError) as exc:
        raise rejection(exc) from None
    except Exception as exc:  # pydicom raises many kinds (zlib.error on bad deflate, ...)
        msg = f"unreadable DICOM header: {type(exc).__name__}: {_one_line(exc)}"
        raise RejectedFile(
            msg, kind="unreadable", details="".join(traceback.format_exception(exc))
        ) from None
    if header_size > limits.max_header_bytes:
        raise rejection(
            LimitExceeded(
                "max_header_bytes",
                f"{header_size} bytes before the pixel data (at most {limits.max_header_bytes})",
            )
        )
    return ds, raw


def _deflated(ds: Dataset) -> bool:
    meta = getattr(ds, "file_meta", None)
    syntax = uid_text((meta or {}).get("TransferSyntaxUID"))
    return syntax == str(pydicom.uid.DeflatedExplicitVRLittleEndian)


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` in one line, without the traceback pydicom puts in some."""
    text = str(exc).split("Traceback (most recent call last)")[0]
    return " ".join(text.split())[:300]


def uid_text(value: object) -> str:
    """A UID element's value as text: multi-values joined by a backslash, padding removed."""
    if value is None:
        return ""
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(str(v) for v in value).strip(" \x00")
    return str(value).strip(" \x00")


def is_valid_uid(uid: str) -> bool:
    """True for a UID as PS3.5 9.1 writes it: digits and dots, at most 64 characters."""
    return len(uid) <= 64 and bool(_VALID_UID.match(uid))


def storage_key(uid: str) -> str:
    """The UID as stored: itself when it fits the column, otherwise a prefix and its digest."""
    if len(uid) <= MAX_UID_LENGTH:
        return uid
    digest = hashlib.sha256(uid.encode("utf-8", "surrogateescape")).hexdigest()[:40]
    return f"{uid[:64]}#sha256:{digest}"


def instance_uids(ds: Dataset) -> tuple[str, str]:
    """SOP Instance UID and Study Instance UID as stored (see :func:`storage_key`).

    A UID that is not a valid UID (path characters, backslashes, too long) is kept: the PACS
    is the authority on what it sent; :func:`uid_issues` flags it. File names never come from
    it (:mod:`vp_log.spool` hashes it).
    """
    meta = getattr(ds, "file_meta", None)
    sop_uid = uid_text(ds.get("SOPInstanceUID")) or uid_text(
        (meta or {}).get("MediaStorageSOPInstanceUID")
    )
    study_uid = uid_text(ds.get("StudyInstanceUID"))
    if not sop_uid:
        raise RejectedFile("no SOP Instance UID (0008,0018) in the dataset or file meta")
    if not study_uid:
        raise RejectedFile(
            "no Study Instance UID (0020,000D): cannot link to a study", sop_instance_uid=sop_uid
        )
    return storage_key(sop_uid), storage_key(study_uid)


def uid_issues(ds: Dataset) -> list[Observation]:
    """One observation per UID of ``ds`` that is not a valid UID, flagged ``invalid-uid:...``."""
    out: list[Observation] = []
    sop_uid = uid_text(ds.get("SOPInstanceUID"))
    for keyword, flag in (
        ("SOPInstanceUID", "sop-instance-uid"),
        ("StudyInstanceUID", "study-instance-uid"),
        ("SeriesInstanceUID", "series-instance-uid"),
    ):
        raw = uid_text(ds.get(keyword))
        if not raw or is_valid_uid(raw):
            continue
        out.append(
            Observation(
                kind=Kind.INSTANCE_ISSUE,
                value={"issue": "invalid-uid", "attribute": keyword, "stored_as": storage_key(raw)},
                provenance=Provenance(
                    sop_instance_uid=storage_key(sop_uid), path=keyword, raw=raw[:4096]
                ),
                flags=(f"invalid-uid:{flag}",),
            )
        )
    return out


def reused_uid_issue(parsed: _Parsed, first_study: str) -> Observation:
    """The flag of a second instance that reuses a stored SOP Instance UID with other content."""
    return Observation(
        kind=Kind.INSTANCE_ISSUE,
        value={
            "issue": "reused-uid",
            "sop_instance_uid": parsed.sop_instance_uid,
            "first_study_instance_uid": first_study,
        },
        provenance=Provenance(
            sop_instance_uid=parsed.sop_instance_uid, path="SOPInstanceUID", raw=first_study
        ),
        flags=("invalid-uid:sop-instance-uid-reused",),
    )


def reused_uid_key(sop_instance_uid: str, study_instance_uid: str) -> str:
    """The key of an instance whose SOP Instance UID is already stored for another study."""
    digest = hashlib.sha256(study_instance_uid.encode("utf-8", "surrogateescape")).hexdigest()
    return storage_key(f"{sop_instance_uid}#study:{digest[:16]}")


def _database_rejection(item: _Parsed, exc: Exception) -> RejectedFile:
    orig = getattr(exc, "orig", None)
    cause = orig if orig is not None else exc
    return RejectedFile(
        f"refused by the database: {type(cause).__name__}: {_one_line(cause)}",
        kind="database",
        details="".join(traceback.format_exception(exc)),
        sop_instance_uid=item.sop_instance_uid,
    )


def header_bytes(ds: Dataset) -> bytes:
    """The dataset as read (no pixel data) encoded as a DICOM file."""
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=False)
    return buffer.getvalue()


class Pipeline:
    """Processing of files into the store, shared by the listener worker and the import."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        spool: Spool,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.database = database
        self.spool = spool
        self.clock = clock
        self.context, self.assembly = load_contexts(settings)
        self.limits = Limits.from_settings(settings)
        self._folders: set[Path] = set()  # archive folders known to exist
        self._archive_batch = BatchWriter()  # header copies of the batch being read
        self._failed_studies: set[str] = set()  # logged once each
        self._held: dict[str, _StudyInputs] = {}  # what stored batches gave each study
        self._held_count = 0

    # --- single files -------------------------------------------------------------------
    def _parse(self, path: Path) -> _Parsed:
        ds, header = _read_header(path, self.limits, keep_bytes=not self.settings.keep_pixel_data)
        meta = getattr(ds, "file_meta", None) or Dataset()
        if str(ds.get("SOPClassUID", "")) == DICOMDIR_SOP_CLASS or (
            str(meta.get("MediaStorageSOPClassUID", "")) == DICOMDIR_SOP_CLASS
        ):
            raise RejectedFile("a DICOMDIR is an index, not an instance")
        sop_uid, study_uid = instance_uids(ds)
        try:
            tree = check_dataset(ds, self.limits)
            observations = [*uid_issues(ds), *extract_all(tree, self.context)]
            return _Parsed(
                path,
                ds,
                sop_uid,
                study_uid,
                observations,
                sop_class_uid=uid_text(ds.get("SOPClassUID"))[:128],
                series_instance_uid=storage_key(uid_text(ds.get("SeriesInstanceUID"))),
                modality=str(ds.get("Modality", "") or "")[:16],
                transfer_syntax_uid=uid_text(meta.get("TransferSyntaxUID"))[:128],
                flags=tuple(f for o in observations for f in o.flags if f.startswith("invalid-")),
                header=header,
            )
        except Exception as exc:
            raise rejection(exc, sop_instance_uid=sop_uid) from None

    def _read(self, path: Path, *, from_spool: bool) -> _Parsed:
        """Read, extract and archive one file within the limits; :class:`RejectedFile` if not.

        Whatever the file makes pydicom or an extractor raise ends here as a rejection of
        this file alone; only an ``OSError`` about the disk is raised as it is.
        """
        try:
            with time_limit(self.limits.max_seconds_per_file):
                item = self._parse(path)
                self._archive(item, move_from_spool=from_spool)
        except OSError as exc:
            if is_disk_error(exc) or (from_spool and isinstance(exc, FileNotFoundError)):
                raise
            raise RejectedFile(
                f"cannot read: {type(exc).__name__}: {_one_line(exc)}", kind="unreadable"
            ) from None
        except Exception as exc:
            raise rejection(exc) from None
        item.dataset = None
        item.header = None
        return item

    def _archive(self, parsed: _Parsed, *, move_from_spool: bool) -> Path:
        """Archive the instance; the caller fsyncs ``dest.parent`` before the commit."""
        dest = self.spool.archive_path(parsed.study_instance_uid, parsed.sop_instance_uid)
        if dest.parent not in self._folders:
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(dest.parent)
        if dest in self._archive_batch or dest.exists():
            # Stored before (a re-send, or a crash before the spool file was removed): the
            # first copy stays, as the database row that points at it does.
            return dest
        if self.settings.keep_pixel_data:
            tmp = dest.with_name(dest.name + ".tmp")
            if move_from_spool:
                # A hard link keeps the spool file until the database commit.
                tmp.unlink(missing_ok=True)
                os.link(parsed.path, tmp)
            else:
                shutil.copyfile(parsed.path, tmp)
                with open(tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
            os.replace(tmp, dest)
        else:
            if parsed.dataset is None:
                msg = "the dataset is dropped once archived; archive before dropping it"
                raise RuntimeError(msg)
            data = parsed.header if parsed.header is not None else header_bytes(parsed.dataset)
            self._archive_batch.write(dest, data)  # durable in process(), before the commit
        return dest

    def _archive_folders(self, parsed: Sequence[_Parsed]) -> set[Path]:
        return {
            self.spool.archive_path(p.study_instance_uid, p.sop_instance_uid).parent for p in parsed
        }

    def _store(
        self, parsed: Sequence[_Parsed], *, now: datetime, received_from: str, from_spool: bool
    ) -> tuple[list[Result], dict[str, _StudyInputs]]:
        """Insert a batch of instances with their observations in one transaction.

        A SOP Instance UID already stored for ANOTHER study (a dose report "adjusted" and
        re-issued under the same UID, say) is not a duplicate: the second instance is kept
        under the UID with the study's digest appended, flagged
        ``invalid-uid:sop-instance-uid-reused``, so both studies get their record. The same
        UID in the same study is a duplicate (a re-send), as before.

        Returns the results and, per study, the new instances with their observations as
        written (for :meth:`reassemble`, once the transaction is committed).
        """
        results: list[Result] = []
        stored: list[tuple[int, str, Sequence[Observation]]] = []
        summaries: list[InstanceSummary] = []
        with self.database.session() as session:
            for item in parsed:
                info = repo.InstanceInfo(
                    sop_instance_uid=item.sop_instance_uid,
                    sop_class_uid=item.sop_class_uid,
                    study_instance_uid=item.study_instance_uid,
                    series_instance_uid=item.series_instance_uid,
                    modality=item.modality,
                    transfer_syntax_uid=item.transfer_syntax_uid,
                    file_size=item.path.stat().st_size,
                    archive_path=str(
                        self.spool.archive_path(
                            item.study_instance_uid, item.sop_instance_uid
                        ).relative_to(self.spool.data_dir)
                    ),
                    received_at=(from_spool and self.spool.received_time(item.path)) or now,
                    received_from=received_from[:256],
                )
                observations = item.observations
                flags = item.flags
                new_id = repo.insert_instance(session=session, info=info)
                if new_id is None:
                    first_study = repo.instance_study(
                        session=session, sop_instance_uid=item.sop_instance_uid
                    )
                    if first_study is not None and first_study != item.study_instance_uid:
                        key = reused_uid_key(item.sop_instance_uid, item.study_instance_uid)
                        info = dataclasses.replace(info, sop_instance_uid=key)
                        new_id = repo.insert_instance(session=session, info=info)
                        issue = reused_uid_issue(item, first_study)
                        observations = [*observations, issue]
                        flags = (*flags, *issue.flags)
                outcome = Outcome.DUPLICATE if new_id is None else Outcome.NEW
                if new_id is not None:
                    stored.append((new_id, item.study_instance_uid, observations))
                    summaries.append(
                        InstanceSummary(
                            info.sop_instance_uid,
                            info.sop_class_uid,
                            info.series_instance_uid,
                            info.modality,
                            info.received_at.astimezone(UTC),  # as the column gives it back
                        )
                    )
                results.append(
                    Result(
                        item.path,
                        outcome,
                        item.sop_instance_uid,
                        item.study_instance_uid,
                        flags=tuple(dict.fromkeys(flags)),
                    )
                )
            rows = repo.add_observation_batch(
                session=session, batch=[(i, observations) for i, _, observations in stored]
            )
        return results, _by_study(stored, summaries, rows)

    def _hold(self, held: dict[str, _StudyInputs]) -> None:
        """Keep what committed batches gave each study, for its next assembly (bounded)."""
        for study_uid, inputs in held.items():
            mine = self._held.setdefault(study_uid, _StudyInputs())
            mine.instances.extend(inputs.instances)
            mine.observations.extend(inputs.observations)
            self._held_count += len(inputs.instances)
        if self._held_count > MAX_HELD_INSTANCES:
            self.release_held()

    def release_held(self) -> None:
        """Forget the inputs kept for assembly (the next assembly reads them back)."""
        self._held.clear()
        self._held_count = 0

    def _reject(self, path: Path, exc: RejectedFile, *, from_spool: bool) -> Result:
        if from_spool:
            self.spool.to_quarantine(
                path,
                str(exc),
                kind=exc.kind,
                limit=exc.limit,
                sop_instance_uid=exc.sop_instance_uid,
                details=exc.details,
            )
        return Result(
            path, Outcome.REJECTED, sop_instance_uid=exc.sop_instance_uid, reason=str(exc)
        )

    # --- batches ------------------------------------------------------------------------
    def process(
        self,
        paths: Sequence[Path],
        *,
        received_from: str,
        from_spool: bool,
    ) -> list[Result]:
        """Store a batch of files in one transaction (records follow in :meth:`assemble_stale`).

        Spool files that cannot be read go to quarantine; spool files stored (or found to be
        duplicates) are removed after the commit. Imported files are never touched. One file
        never stops the others: whatever it raises (bar the disk or the database being
        down) rejects that file alone, with its reason.
        """
        results: list[Result] = []
        parsed = self._read_batch(paths, results, from_spool=from_spool)
        for folder in self._archive_folders(parsed):
            fsync_dir(folder)  # the archive copies are durable before the database says so
        now = self.clock()
        try:
            stored, held = self._store(
                parsed, now=now, received_from=received_from, from_spool=from_spool
            )
            results.extend(stored)
            self._hold(held)
        except Exception as exc:
            if isinstance(exc, OSError | OperationalError | InterfaceError):
                raise  # the disk or the database is down or busy: the batch waits
            # One instance the database refuses (a value too long for its column, say) must
            # not hold up the others: store one at a time, set aside the one refused.
            for item in parsed:
                try:
                    stored, held = self._store(
                        [item], now=now, received_from=received_from, from_spool=from_spool
                    )
                    results.extend(stored)
                    self._hold(held)
                except Exception as item_exc:
                    if isinstance(item_exc, OSError | OperationalError | InterfaceError):
                        raise
                    results.append(
                        self._reject(
                            item.path, _database_rejection(item, item_exc), from_spool=from_spool
                        )
                    )
        if from_spool:
            for item in parsed:
                self.spool.discard(item.path)
        return results

    def _read_batch(
        self, paths: Sequence[Path], results: list[Result], *, from_spool: bool
    ) -> list[_Parsed]:
        """Read and archive each file (rejections go to ``results``); the header copies are
        made durable together (:class:`vp_log.spool.BatchWriter`) before this returns."""
        parsed: list[_Parsed] = []
        try:
            for path in paths:
                try:
                    parsed.append(self._read(path, from_spool=from_spool))
                except RejectedFile as exc:
                    results.append(self._reject(path, exc, from_spool=from_spool))
                except OSError as exc:
                    if from_spool:
                        raise  # the disk, not the file: the batch is tried again later
                    results.append(
                        Result(path, Outcome.REJECTED, reason=f"cannot read: {_one_line(exc)}")
                    )
            self._archive_batch.commit()  # one flush for the batch's header copies
        finally:
            self._archive_batch.discard()  # nothing of a failed batch is left behind
        return parsed

    def reassemble(
        self, *, session: Session, study_instance_uid: str, now: datetime, final: bool = False
    ) -> ProcedureRecord:
        """Rebuild and save the record of one study from its stored observations.

        Those that this pipeline's batches stored are taken as they were written, when they
        are every instance the study has (else they are read back). A record that is stale
        only because it was stored in an older shape keeps whether it was settled (an
        imported study stays complete).
        """
        instances, observations = self._study_inputs(session, study_instance_uid)
        stored = repo.record_state(session=session, study_instance_uid=study_instance_uid)
        if stored is not None and stored[0] == len(instances):
            final = final or stored[1] != Status.RECEIVING.value
        record = assemble_record(
            study_instance_uid,
            instances,
            observations,
            context=self.assembly,
            last_received_at=max(i.received_at for i in instances),
            now=now,
            final=final,
        )
        repo.save_procedure(session=session, record=record, updated_at=now)
        return record

    def _study_inputs(
        self, session: Session, study_instance_uid: str
    ) -> tuple[Sequence[InstanceSummary], Sequence[Observation]]:
        """The study's instances and observations: as held from the batches that stored
        them if those are all its instances, else read from the database."""
        held = self._held.pop(study_instance_uid, None)
        if held is not None:
            self._held_count -= len(held.instances)
            count = repo.study_instance_count(
                session=session, study_instance_uid=study_instance_uid
            )
            if count == len(held.instances):
                return held.instances, held.observations
        rows = repo.study_instances(session=session, study_instance_uid=study_instance_uid)
        instances = [
            InstanceSummary(
                i.sop_instance_uid,
                i.sop_class_uid,
                i.series_instance_uid,
                i.modality,
                i.received_at,
            )
            for i in rows
        ]
        observations = repo.study_observations(
            session=session, study_instance_uid=study_instance_uid
        )
        return instances, observations

    def assemble_stale(self, *, final: bool = False) -> list[str]:
        """Re-assemble every study with instances newer than its record.

        Stateless on purpose: after a crash between storing instances and assembling, the
        next call finds the same studies again. ``final`` (import) skips the quiet period.
        """
        try:
            with self.database.session() as session:
                stale = repo.stale_studies(session=session)
                self._assemble(session, stale, now=self.clock(), final=final)
        finally:
            self.release_held()
        return stale

    def assemble_held(self, *, final: bool = False, keep: Collection[str] = ()) -> list[str]:
        """Assemble the studies this pipeline stored instances of, but for ``keep``.

        ``vp-log import`` calls it after each batch with the batch's studies as ``keep`` (their
        next files may be in the next batch): a study is assembled once its files are past,
        from the observations as its batches wrote them, and what is held stays bounded.
        """
        studies = sorted(s for s in self._held if s not in keep)
        if studies:
            with self.database.session() as session:
                self._assemble(session, studies, now=self.clock(), final=final)
        return studies

    def _assemble(
        self, session: Session, study_uids: Iterable[str], *, now: datetime, final: bool
    ) -> None:
        """:meth:`reassemble` each study, each in a savepoint: one study's failure (logged)
        spares the others."""
        for study_uid in study_uids:
            try:
                with session.begin_nested():
                    self.reassemble(
                        session=session, study_instance_uid=study_uid, now=now, final=final
                    )
            except Exception as exc:
                if isinstance(exc, OperationalError | InterfaceError):
                    raise  # the database is down: the round is tried again
                self._study_failed(study_uid, exc)

    def update_records(self, study_uids: Iterable[str]) -> None:
        """Bring the records of studies that just got instances up to date, cheaply.

        A study without a record (or with one of an older shape) is assembled now. One that
        has a record is only told that it is receiving (:func:`repo.mark_receiving`: instance
        count, last instance, status); it is assembled whole when it goes quiet
        (:meth:`complete_quiet_studies`). A study growing to thousands of instances in late
        batches is so assembled once, not once per batch (issue 17: 1.2 s per batch at 2 000
        instances). After a crash between storing and this, :meth:`assemble_stale` finds the
        study by its counts.
        """
        now = self.clock()
        try:
            with self.database.session() as session:
                for study_uid in sorted(set(study_uids)):
                    try:
                        with session.begin_nested():
                            if not repo.mark_receiving(
                                session=session, study_instance_uid=study_uid, updated_at=now
                            ):
                                self.reassemble(
                                    session=session, study_instance_uid=study_uid, now=now
                                )
                    except Exception as exc:
                        if isinstance(exc, OperationalError | InterfaceError):
                            raise
                        self._study_failed(study_uid, exc)
        finally:
            self.release_held()  # a study with a record is assembled later, read back whole

    def next_quiet_time(self) -> datetime | None:
        """When the first study still `receiving` goes quiet (None: none is receiving)."""
        with self.database.session() as session:
            return repo.next_quiet_time(
                session=session, quiet_period_s=self.settings.quiet_period_s
            )

    def _study_failed(self, study_uid: str, exc: Exception) -> None:
        """Log (once per study) a record that cannot be assembled or saved; the rest go on."""
        if study_uid in self._failed_studies:
            return
        self._failed_studies.add(study_uid)
        cause = getattr(exc, "orig", None) or exc
        logger.error(
            "cannot assemble or save the record of study %s: %s: %s",
            study_uid,
            type(cause).__name__,
            _one_line(cause),
            exc_info=not isinstance(exc, StatementError),
        )

    def complete_quiet_studies(self) -> list[str]:
        """Move studies past their quiet period from `receiving` to complete / needs review."""
        now = self.clock()
        with self.database.session() as session:
            due = repo.studies_due_for_completion(
                session=session, now=now, quiet_period_s=self.settings.quiet_period_s
            )
            for study_uid in due:
                try:
                    with session.begin_nested():
                        record = self.reassemble(
                            session=session, study_instance_uid=study_uid, now=now
                        )
                except Exception as exc:
                    if isinstance(exc, OperationalError | InterfaceError):
                        raise
                    self._study_failed(study_uid, exc)
                    continue
                logger.info(
                    "study %s %s: %s, %s instances",
                    study_uid,
                    record.status.value,
                    record.procedure_type.value,
                    record.instance_count,
                )
        return due

    def reextract(self, *, studies_per_transaction: int = 100) -> int:
        """Rebuild every observation and record from the header archive.

        Study by study, ``studies_per_transaction`` at a time, each group in a transaction of
        its own (the observations of its instances replaced, its records rebuilt): memory
        stays bounded whatever the size of the store, and a run that is interrupted leaves
        each study either as it was or rebuilt (running it again finishes the job).
        """
        count = 0
        now = self.clock()
        after: str | None = None
        while True:
            with self.database.session() as session:
                studies = repo.study_uids_after(
                    session=session, after=after, limit=studies_per_transaction
                )
                if not studies:
                    return count
                after = studies[-1]
                batch: list[tuple[int, str, Sequence[Observation]]] = []
                done: list[InstanceSummary] = []
                for inst in repo.instances_of_studies(session=session, studies=studies):
                    observations = self._reextract_one(inst.sop_instance_uid, inst.archive_path)
                    if observations is not None:
                        batch.append((inst.id, inst.study_instance_uid, observations))
                        done.append(
                            InstanceSummary(
                                inst.sop_instance_uid,
                                inst.sop_class_uid,
                                inst.series_instance_uid,
                                inst.modality,
                                inst.received_at,
                            )
                        )
                rows = repo.replace_observation_batch(
                    session=session, batch=[(i, observations) for i, _, observations in batch]
                )
                # A study whose every instance was re-extracted is assembled from the rows
                # just written; one with an instance left as it was reads its rows back.
                self.release_held()
                self._hold(_by_study(batch, done, rows))
                try:
                    for study_uid in dict.fromkeys(study for _, study, _ in batch):
                        self.reassemble(session=session, study_instance_uid=study_uid, now=now)
                finally:
                    self.release_held()
                count += len(batch)

    def _reextract_one(self, sop_instance_uid: str, archive_path: str) -> list[Observation] | None:
        """The observations of one archived header; None (logged) if it cannot be read."""
        path = self.spool.data_dir / archive_path
        try:
            with time_limit(self.limits.max_seconds_per_file):
                ds = read_header(path, self.limits)
                tree = check_dataset(ds, self.limits)
                return [*uid_issues(ds), *extract_all(tree, self.context)]
        except Exception as exc:
            if isinstance(exc, OperationalError | InterfaceError):
                raise
            # The stored observations stay as they were; the next instance goes on.
            logger.error("cannot re-extract %s: %s", sop_instance_uid, rejection(exc))
            return None
