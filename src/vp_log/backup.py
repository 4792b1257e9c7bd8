"""``vp-log backup DEST`` and ``vp-log restore SRC``: a data folder copied whole, while in use.

A backup folder holds::

    vp_log.db       the SQLite database, copied with SQLite's online backup API
    archive/        the header archive (what ``vp-log reextract`` rebuilds records from)
    spool/          instances acknowledged but not yet stored (nothing acknowledged is lost)
    quarantine/     files the worker could not store, with their reasons
    manifest.json   when, which version, schema revision and row counts

A PostgreSQL store is not copied (use ``pg_dump``); the files still are. Restore goes into a
new or empty data folder only, never over one in use, and checks the restored database holds
the rows the manifest counted.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from vp_log.config import Settings
from vp_log.db.engine import current_revision
from vp_log.db.maintenance import copy_sqlite, count_rows, sqlite_path
from vp_log.status import utc_now_text

MANIFEST = "manifest.json"
DATABASE_FILE = "vp_log.db"
FOLDERS = ("archive", "spool", "quarantine")


class BackupError(RuntimeError):
    """A backup or restore that cannot go ahead (the message says why and what to do)."""


@dataclass
class BackupSummary:
    folder: Path
    files: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    database: str = "sqlite"
    """``sqlite`` (copied) or ``postgresql`` (not copied: use pg_dump)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "files": self.files,
            "rows": self.rows,
            "database": self.database,
        }


def _empty_folder(path: Path, what: str) -> None:
    """Create ``path`` (0700) or accept it if it exists and is empty."""
    if path.exists():
        if not path.is_dir() or any(path.iterdir()):
            msg = f"{what} {path} is not empty; give a new or empty folder"
            raise BackupError(msg)
    else:
        path.mkdir(parents=True, mode=0o700)
    path.chmod(0o700)


def _copy_tree(source: Path, dest: Path) -> int:
    """Copy the files under ``source`` (not the spool's lock or partial receptions)."""
    count = 0
    if not source.is_dir():
        return 0
    for root, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d != ".incoming")
        target = dest / Path(root).relative_to(source)
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        for name in sorted(files):
            if name == ".lock" or name.endswith(".tmp"):
                continue
            shutil.copy2(Path(root) / name, target / name)
            count += 1
    return count


def make_backup(settings: Settings, dest: Path) -> BackupSummary:
    """Copy the database (SQLite) and the data folder's files into the new folder ``dest``."""
    data_dir = Path(settings.data_dir)
    if not data_dir.is_dir():
        msg = f"the data folder {data_dir} does not exist; nothing to back up"
        raise BackupError(msg)
    if dest.resolve().is_relative_to(data_dir.resolve()):
        msg = f"{dest} is inside the data folder {data_dir}; back up to another folder"
        raise BackupError(msg)
    _empty_folder(dest, "the backup folder")
    summary = BackupSummary(dest)
    url = settings.db_url
    db_file = sqlite_path(url)
    if db_file is None:
        summary.database = "postgresql"
    elif db_file.exists():
        copy_sqlite(db_file, dest / DATABASE_FILE)
        summary.rows = count_rows(f"sqlite:///{dest / DATABASE_FILE}")
    # Files after the database: what the database names is then surely in the archive copy.
    for folder in FOLDERS:
        summary.files[folder] = _copy_tree(data_dir / folder, dest / folder)
    manifest = {
        "created_at": utc_now_text(),
        "vp_log_version": version("vp-log"),
        "data_dir": str(data_dir),
        "schema_revision": current_revision(url) if db_file is None or db_file.exists() else None,
        **summary.as_dict(),
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return summary


def restore_backup(source: Path, settings: Settings) -> BackupSummary:
    """Restore the backup folder ``source`` into the (new or empty) data folder of ``settings``."""
    try:
        manifest = json.loads((source / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        msg = f"{source} is not a vp-log backup (no readable {MANIFEST}: {exc})"
        raise BackupError(msg) from None
    data_dir = Path(settings.data_dir)
    db_file = sqlite_path(settings.db_url)
    backed_up_db = source / DATABASE_FILE
    if backed_up_db.exists():
        if db_file is None:
            msg = (
                "the backup holds an SQLite database but VP_LOG_DATABASE_URL names PostgreSQL; "
                "unset it to restore into SQLite"
            )
            raise BackupError(msg)
        if db_file.exists():
            msg = f"the database {db_file} exists already; restore into a new data folder"
            raise BackupError(msg)
    _empty_folder(data_dir, "the data folder")
    summary = BackupSummary(data_dir, database=str(manifest.get("database", "sqlite")))
    for folder in FOLDERS:
        summary.files[folder] = _copy_tree(source / folder, data_dir / folder)
    if backed_up_db.exists() and db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        copy_sqlite(backed_up_db, db_file)
        summary.rows = count_rows(settings.db_url)
        expected = manifest.get("rows") or {}
        if summary.rows != expected:
            msg = f"restored database holds {summary.rows}, the backup counted {expected}"
            raise BackupError(msg)
    return summary
