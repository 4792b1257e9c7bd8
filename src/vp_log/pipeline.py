"""Received or imported files → archive, instance rows, observations, procedure records.

The same steps serve the listener's worker (files from the spool) and ``vp-log import``
(files left where they are): read the header (``stop_before_pixels``), extract, archive a
header-only copy (durably), store idempotently on the SOP Instance UID, re-assemble the
studies touched. A spool file is removed only after the database commit.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from sqlalchemy.exc import InterfaceError, OperationalError, StatementError
from sqlalchemy.orm import Session

from vp_log.assemble import AssemblyContext, InstanceSummary, assemble_record
from vp_log.config import Settings
from vp_log.db import Database
from vp_log.db import repository as repo
from vp_log.extract import ExtractionContext, extract_all
from vp_log.models import Observation
from vp_log.record import ProcedureRecord, Status
from vp_log.spool import Spool, fsync_dir, write_durably
from vp_log.vocabulary import load_vocabulary

logger = logging.getLogger(__name__)

DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
MAX_UID_LENGTH = 128  # the columns' size; DICOM allows 64, some devices overrun it


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


def is_data_error(exc: StatementError) -> bool:
    """A statement refused for its values (too long, bad text), not a database that is down."""
    return not isinstance(exc, OperationalError | InterfaceError)


class RejectedFile(ValueError):
    """A file that cannot become an instance; the message says why."""


@dataclass
class _Parsed:
    path: Path
    dataset: Dataset
    sop_instance_uid: str
    study_instance_uid: str
    observations: list[Observation]


def load_contexts(settings: Settings) -> tuple[ExtractionContext, AssemblyContext]:
    """What extraction and assembly need of the site: the vocabulary file (its words and its
    ``[plausibility]`` limits) and the quiet period. A bad vocabulary raises
    ``VocabularyError``."""
    vocabulary = load_vocabulary(settings.vocabulary_path)
    return (
        ExtractionContext(vocabulary=vocabulary),
        AssemblyContext(vocabulary=vocabulary, quiet_period_s=settings.quiet_period_s),
    )


def read_header(path: Path) -> Dataset:
    """The dataset without pixel data; :class:`RejectedFile` naming the problem otherwise.

    An ``OSError`` (the disk, not the file's content) is raised as it is: the file stays
    where it is and is tried again, it is not rejected.
    """
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError as exc:
        raise RejectedFile(f"not a DICOM file (no DICM prefix or file meta): {exc}") from None
    except OSError:
        raise
    except Exception as exc:  # pydicom raises many kinds (zlib.error on bad deflate, ...)
        raise RejectedFile(f"unreadable DICOM header: {type(exc).__name__}: {exc}") from None


def instance_uids(ds: Dataset) -> tuple[str, str]:
    meta = getattr(ds, "file_meta", None)
    sop_uid = str(ds.get("SOPInstanceUID") or (meta or {}).get("MediaStorageSOPInstanceUID") or "")
    study_uid = str(ds.get("StudyInstanceUID") or "")
    if not sop_uid.strip():
        raise RejectedFile("no SOP Instance UID (0008,0018) in the dataset or file meta")
    if not study_uid.strip():
        raise RejectedFile("no Study Instance UID (0020,000D): cannot link to a study")
    for name, uid in (("SOP Instance UID", sop_uid), ("Study Instance UID", study_uid)):
        if len(uid.strip()) > MAX_UID_LENGTH:
            msg = f"{name} is {len(uid.strip())} characters long (a UID has at most 64)"
            raise RejectedFile(msg)
    return sop_uid.strip(), study_uid.strip()


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
        self._folders: set[Path] = set()  # archive folders known to exist
        self._failed_studies: set[str] = set()  # logged once each

    # --- single files -------------------------------------------------------------------
    def _parse(self, path: Path) -> _Parsed:
        ds = read_header(path)
        if str(ds.get("SOPClassUID", "")) == DICOMDIR_SOP_CLASS or (
            str(getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", ""))
            == DICOMDIR_SOP_CLASS
        ):
            raise RejectedFile("a DICOMDIR is an index, not an instance")
        sop_uid, study_uid = instance_uids(ds)
        try:
            observations = extract_all(ds, self.context)
        except Exception as exc:  # an extractor bug must not hold up the spool
            logger.exception("extraction failed for %s", path.name)
            raise RejectedFile(f"extraction failed: {type(exc).__name__}: {exc}") from exc
        return _Parsed(path, ds, sop_uid, study_uid, observations)

    def _archive(self, parsed: _Parsed, *, move_from_spool: bool) -> Path:
        """Archive the instance; the caller fsyncs ``dest.parent`` before the commit."""
        dest = self.spool.archive_path(parsed.study_instance_uid, parsed.sop_instance_uid)
        if dest.parent not in self._folders:
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(dest.parent)
        if dest.exists():
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
            write_durably(dest, header_bytes(parsed.dataset), sync_dir=False)
        return dest

    def _archive_folders(self, parsed: Sequence[_Parsed]) -> set[Path]:
        return {
            self.spool.archive_path(p.study_instance_uid, p.sop_instance_uid).parent for p in parsed
        }

    def _store(
        self, parsed: Sequence[_Parsed], *, now: datetime, received_from: str, from_spool: bool
    ) -> list[Result]:
        """Insert a batch of instances with their observations in one transaction."""
        results: list[Result] = []
        with self.database.session() as session:
            for item in parsed:
                info = repo.InstanceInfo(
                    sop_instance_uid=item.sop_instance_uid,
                    sop_class_uid=str(item.dataset.get("SOPClassUID", ""))[:128],
                    study_instance_uid=item.study_instance_uid,
                    series_instance_uid=str(item.dataset.get("SeriesInstanceUID", ""))[:128],
                    modality=str(item.dataset.get("Modality", ""))[:16],
                    transfer_syntax_uid=str(
                        getattr(item.dataset, "file_meta", {}).get("TransferSyntaxUID", "")
                    )[:128],
                    file_size=item.path.stat().st_size,
                    archive_path=str(
                        self.spool.archive_path(
                            item.study_instance_uid, item.sop_instance_uid
                        ).relative_to(self.spool.data_dir)
                    ),
                    received_at=(from_spool and self.spool.received_time(item.path)) or now,
                    received_from=received_from,
                )
                new_id = repo.insert_instance(session=session, info=info)
                outcome = Outcome.DUPLICATE if new_id is None else Outcome.NEW
                if new_id is not None:
                    repo.add_observations(
                        session=session,
                        instance_id=new_id,
                        study_instance_uid=item.study_instance_uid,
                        observations=item.observations,
                    )
                results.append(
                    Result(item.path, outcome, item.sop_instance_uid, item.study_instance_uid)
                )
        return results

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
        duplicates) are removed after the commit. Imported files are never touched.
        """
        results: list[Result] = []
        parsed: list[_Parsed] = []
        for path in paths:
            try:
                item = self._parse(path)
                self._archive(item, move_from_spool=from_spool)
            except RejectedFile as exc:
                results.append(Result(path, Outcome.REJECTED, reason=str(exc)))
                if from_spool:
                    self.spool.to_quarantine(path, str(exc))
                continue
            except OSError as exc:
                if from_spool:
                    raise  # the disk, not the file: the batch is tried again later
                results.append(Result(path, Outcome.REJECTED, reason=f"cannot read: {exc}"))
                continue
            parsed.append(item)

        for folder in self._archive_folders(parsed):
            fsync_dir(folder)  # the archive copies are durable before the database says so
        now = self.clock()
        try:
            results.extend(
                self._store(parsed, now=now, received_from=received_from, from_spool=from_spool)
            )
        except StatementError as exc:
            if not is_data_error(exc):
                raise  # the database is down or busy: the batch waits in the spool
            # One instance the database refuses (a value too long for its column, say) must
            # not hold up the others: store one at a time, set aside the one refused.
            for item in parsed:
                try:
                    results.extend(
                        self._store(
                            [item], now=now, received_from=received_from, from_spool=from_spool
                        )
                    )
                except StatementError as item_exc:
                    if not is_data_error(item_exc):
                        raise
                    reason = f"refused by the database: {type(item_exc.orig).__name__}: " + (
                        str(item_exc.orig).splitlines()[0] if item_exc.orig else str(item_exc)
                    )
                    results.append(Result(item.path, Outcome.REJECTED, reason=reason))
                    if from_spool:
                        self.spool.to_quarantine(item.path, reason)
        if from_spool:
            for item in parsed:
                self.spool.discard(item.path)
        return results

    def reassemble(
        self, *, session: Session, study_instance_uid: str, now: datetime, final: bool = False
    ) -> ProcedureRecord:
        """Rebuild and save the record of one study from its stored observations.

        A record that is stale only because it was stored in an older shape keeps whether it
        was settled (an imported study stays complete).
        """
        instances = repo.study_instances(session=session, study_instance_uid=study_instance_uid)
        observations = repo.study_observations(
            session=session, study_instance_uid=study_instance_uid
        )
        stored = repo.procedure_of_study(session=session, study_instance_uid=study_instance_uid)
        if stored is not None and stored.instance_count == len(instances):
            final = final or stored.status != Status.RECEIVING.value
        last = max(i.received_at for i in instances)
        record = assemble_record(
            study_instance_uid,
            [
                InstanceSummary(
                    i.sop_instance_uid,
                    i.sop_class_uid,
                    i.series_instance_uid,
                    i.modality,
                    i.received_at,
                )
                for i in instances
            ],
            observations,
            context=self.assembly,
            last_received_at=last,
            now=now,
            final=final,
        )
        repo.save_procedure(session=session, record=record, updated_at=now)
        return record

    def assemble_stale(self, *, final: bool = False) -> list[str]:
        """Re-assemble every study with instances newer than its record.

        Stateless on purpose: after a crash between storing instances and assembling, the
        next call finds the same studies again. ``final`` (import) skips the quiet period.
        """
        now = self.clock()
        with self.database.session() as session:
            stale = repo.stale_studies(session=session)
            for study_uid in stale:
                try:
                    with session.begin_nested():  # one study's failure spares the others
                        self.reassemble(
                            session=session, study_instance_uid=study_uid, now=now, final=final
                        )
                except StatementError as exc:
                    if not is_data_error(exc):
                        raise
                    if study_uid not in self._failed_studies:
                        logger.error(
                            "cannot save the record of study %s: %s", study_uid, exc.orig or exc
                        )
                        self._failed_studies.add(study_uid)
        return stale

    def complete_quiet_studies(self) -> list[str]:
        """Move studies past their quiet period from `receiving` to complete / needs review."""
        now = self.clock()
        with self.database.session() as session:
            due = repo.studies_due_for_completion(
                session=session, now=now, quiet_period_s=self.settings.quiet_period_s
            )
            for study_uid in due:
                record = self.reassemble(session=session, study_instance_uid=study_uid, now=now)
                logger.info(
                    "study %s %s: %s, %s instances",
                    study_uid,
                    record.status.value,
                    record.procedure_type.value,
                    record.instance_count,
                )
        return due

    def reextract(self) -> int:
        """Rebuild every observation and record from the header archive."""
        count = 0
        now = self.clock()
        with self.database.session() as session:
            studies: dict[str, None] = {}
            for inst in repo.all_instances(session=session):
                path = self.spool.data_dir / inst.archive_path
                ds = read_header(path)
                observations = extract_all(ds, self.context)
                repo.replace_observations(
                    session=session,
                    instance_id=inst.id,
                    study_instance_uid=inst.study_instance_uid,
                    observations=observations,
                )
                studies[inst.study_instance_uid] = None
                count += 1
            for study_uid in studies:
                self.reassemble(session=session, study_instance_uid=study_uid, now=now)
        return count
