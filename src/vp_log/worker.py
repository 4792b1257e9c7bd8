"""The worker: drains the spool into the database, in a process of its own.

The listener only receives and fsyncs; parsing, extraction, archiving and assembly run here.
A separate process (not a thread) keeps this work from competing with pynetdicom's receive
threads for the interpreter lock: measured on benchmark set A (1000 small instances) a worker
thread made receiving about 4x slower. The spool is the hand-off, so a worker that dies loses
nothing; the listener starts a new one.
"""

from __future__ import annotations

import logging
import os
import time
from multiprocessing.synchronize import Event
from typing import Any

from vp_log.config import Settings
from vp_log.db import Database
from vp_log.pipeline import Pipeline
from vp_log.spool import Spool

logger = logging.getLogger(__name__)

NICE_INCREMENT = 5
"""The worker yields the CPU to the receiving process when both want it."""


def drain(pipeline: Pipeline, *, batch_size: int = 200, assemble_every_s: float = 2.0) -> int:
    """Process everything in the spool now, then bring the records up to date.

    While instances keep arriving, records are re-assembled at most every ``assemble_every_s``
    (a study's record is `receiving` then anyway), so a study of thousands of instances is
    not re-assembled thousands of times.
    """
    handled = 0
    last_assembly = time.monotonic()
    while paths := pipeline.spool.pending(limit=batch_size):
        pipeline.process(paths, received_from="dicom", from_spool=True)
        handled += len(paths)
        if time.monotonic() - last_assembly >= assemble_every_s:
            pipeline.assemble_stale()
            last_assembly = time.monotonic()
    pipeline.assemble_stale()
    return handled


def work(pipeline: Pipeline, wake: Event, stop: Event) -> None:
    """Drain whenever woken (or every half second), complete quiet studies; until ``stop``."""
    last_sweep = 0.0
    while not stop.is_set():
        wake.wait(timeout=0.5)
        wake.clear()
        try:
            drain(pipeline)
            if time.monotonic() - last_sweep >= 1.0:
                pipeline.complete_quiet_studies()
                last_sweep = time.monotonic()
        except Exception:
            # The spool keeps the files; the next round tries again.
            logger.exception("worker round failed; files stay in the spool")
            stop.wait(2.0)
    drain(pipeline)


def run_worker(settings_data: dict[str, Any], wake: Event, stop: Event) -> None:
    """Entry point of the worker process (``multiprocessing``, spawn start method)."""
    settings = Settings(**settings_data)
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        os.nice(NICE_INCREMENT)
    except OSError:
        logger.debug("could not lower the worker's priority")
    database = Database(settings.db_url, upgrade=False)
    try:
        work(Pipeline(settings, database, Spool(settings.data_dir)), wake, stop)
    finally:
        database.dispose()
