"""The listener's C-STORE handler in the test's own process (no worker), for the unit tests
of the receive path: its hook installed on pynetdicom, and pynetdicom's module state put back
afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from pynetdicom import _config
from pynetdicom import dimse_messages as _dimse_messages

from vp_log.config import load_settings
from vp_log.db import Database
from vp_log.listener import Listener, install_receive_hook
from vp_log.pipeline import Pipeline
from vp_log.spool import Spool

#: What the receive hook replaces in ``pynetdicom.dimse_messages``.
_HOOKED = ("NamedTemporaryFile", "create_file_meta", "write_file_meta_info")


@contextlib.contextmanager
def in_process_listener(tmp_path: Path) -> Iterator[tuple[Listener, Spool]]:
    """A :class:`Listener` on a fresh data folder under ``tmp_path``, and its spool."""
    settings = load_settings(data_dir=tmp_path / "data", network_timeout_s=5)
    spool = Spool(settings.data_dir)
    database = Database(settings.db_url, upgrade=False)  # the handler never touches it
    listener = Listener(settings, Pipeline(settings, database, spool), spool)
    saved = {name: getattr(_dimse_messages, name) for name in _HOOKED}
    chunked, log_level = _config.STORE_RECV_CHUNKED_DATASET, _config.LOG_HANDLER_LEVEL
    install_receive_hook(spool)
    try:
        yield listener, spool
    finally:
        _config.STORE_RECV_CHUNKED_DATASET, _config.LOG_HANDLER_LEVEL = chunked, log_level
        for name, value in saved.items():
            setattr(_dimse_messages, name, value)
        database.dispose()
