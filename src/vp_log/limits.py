"""Bounded work per file: what one received or imported file may cost before it is set aside.

Every file is read and extracted under the same limits, whichever extractor runs on it:

- ``max_element_bytes``: no data element (pixel data aside, which is never read) may be
  longer; values above ``max_text_bytes`` are not even read into memory while the header is
  parsed (pydicom's ``defer_size``), so a length field of 4 GB costs nothing;
- ``max_text_bytes``: a text value (LO, LT, UT, PN, ... ) longer than this is refused;
- ``max_sequence_depth`` and ``max_sequence_items``: how deep sequences nest and how many
  items all sequences of a file hold together; checked, without recursion, before any
  extractor walks the tree, so an SR walker only ever sees a bounded tree;
- ``max_header_bytes``: the size of everything before the pixel data;
- ``max_seconds_per_file``: wall time for reading, extracting and archiving one file;
- ``max_memory_mb``: the address space of the worker (and of ``vp-log import``), so that
  runaway growth ends as a ``MemoryError`` on one file, not as the kernel's OOM killer.

Exceeding one raises :class:`LimitExceeded`, which names the limit (the setting's name);
the pipeline quarantines (or, for an import, rejects) the file with that reason.
"""

from __future__ import annotations

import logging
import re
import resource
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from vp_log.tree import TEXT_VRS, Bounds, DatasetItem, Doubt, dataset_tree, read_tree

if TYPE_CHECKING:
    from vp_log.config import Settings

logger = logging.getLogger(__name__)

MIB = 1024 * 1024


class LimitExceeded(Exception):
    """A file needs more than a limit allows; ``limit`` is the setting's name."""

    def __init__(self, limit: str, detail: str | None = None) -> None:
        if detail is None:
            # Re-raised with a longer message (pydicom's ``tag_in_exception`` does
            # ``type(exc)(message)``): keep the limit's name from that message.
            text = limit.split("Traceback (most recent call last)", maxsplit=1)[0]
            found = re.search(r"limit (\w+) exceeded: ([^\n]*)", text)
            limit, detail = (found.group(1), found.group(2)) if found else ("unknown", text)
        message = f"limit {limit} exceeded: {detail}"
        super().__init__(" ".join(message.split()))
        self.limit = limit
        self.detail = detail


@dataclass(frozen=True)
class Limits:
    """The bounds for one file (defaults are generous for real fluoroscopy studies)."""

    max_header_bytes: int = 64 * MIB
    max_element_bytes: int = 64 * MIB
    max_text_bytes: int = 1 * MIB
    max_sequence_depth: int = 32
    max_sequence_items: int = 100_000
    max_seconds_per_file: float = 20.0
    max_memory_mb: int = 3072

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_header_bytes=settings.max_header_bytes,
            max_element_bytes=settings.max_element_bytes,
            max_text_bytes=settings.max_text_bytes,
            max_sequence_depth=settings.max_sequence_depth,
            max_sequence_items=settings.max_sequence_items,
            max_seconds_per_file=settings.max_seconds_per_file,
            max_memory_mb=settings.max_memory_mb,
        )


def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def check_dataset(ds: Dataset, limits: Limits) -> DatasetItem:
    """Raise :class:`LimitExceeded` if ``ds`` is larger or deeper than ``limits`` allow.

    Returns the dataset's tree (:mod:`vp_log.tree`): each sequence is parsed from its bytes
    once, here, with the bounds checked on the way, and the extractors read that tree. When
    the tree's reader is not sure of the bytes (or a bound is exceeded), pydicom decodes
    the sequences and :func:`check_with_pydicom` judges them, naming the limit and the tag.
    """
    try:
        return read_tree(
            ds,
            Bounds(
                max_element_bytes=limits.max_element_bytes,
                max_text_bytes=limits.max_text_bytes,
                max_sequence_depth=limits.max_sequence_depth,
                max_sequence_items=limits.max_sequence_items,
            ),
        )
    except Doubt:
        check_with_pydicom(ds, limits)
        return dataset_tree(ds)


def check_with_pydicom(ds: Dataset, limits: Limits) -> None:
    """Raise :class:`LimitExceeded` if ``ds`` is larger or deeper than ``limits`` allow.

    Iterative (no recursion, whatever the nesting). Only sequences are decoded on the way
    (pydicom decodes them lazily); other values are judged by their length alone, so a
    deferred value is never read here.
    """
    items = 0
    stack: list[tuple[Dataset, int]] = [(ds, 0)]
    while stack:
        current, depth = stack.pop()
        for tag in list(current.keys()):
            elem: Any = current.get_item(tag, keep_deferred=True)
            if isinstance(elem, RawDataElement):
                vr, length = str(elem.VR or ""), elem.length
            else:
                vr, length = str(elem.VR or ""), None
            if vr in ("", "None") or (vr == "UN" and not (tag >> 16) % 2):
                # Implicit VR (as most PACS send): the dictionary says what the value is.
                vr = _dictionary_vr(tag)  # a text value sent as UN is still text
            if length is not None and length != 0xFFFFFFFF:
                if length > limits.max_element_bytes:
                    raise LimitExceeded(
                        "max_element_bytes",
                        f"element {_tag_text(tag)} is {length} bytes "
                        f"(at most {limits.max_element_bytes})",
                    )
                if vr in TEXT_VRS and length > limits.max_text_bytes:
                    raise LimitExceeded(
                        "max_text_bytes",
                        f"text element {_tag_text(tag)} ({vr}) is {length} bytes "
                        f"(at most {limits.max_text_bytes})",
                    )
            if vr != "SQ":
                if length is None and vr in TEXT_VRS:
                    _check_text_value(tag, vr, current[tag].value, limits)
                continue
            value = current[tag].value  # decodes this one sequence (its items stay lazy)
            if not isinstance(value, Sequence):
                continue
            if depth + 1 > limits.max_sequence_depth:
                raise LimitExceeded(
                    "max_sequence_depth",
                    f"sequences nest deeper than {limits.max_sequence_depth} (at {_tag_text(tag)})",
                )
            items += len(value)
            if items > limits.max_sequence_items:
                raise LimitExceeded(
                    "max_sequence_items",
                    f"more than {limits.max_sequence_items} sequence items in the file "
                    f"(at {_tag_text(tag)})",
                )
            stack.extend((item, depth + 1) for item in value if isinstance(item, Dataset))


def _dictionary_vr(tag: int) -> str:
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return "UN"


def _check_text_value(tag: int, vr: str, value: Any, limits: Limits) -> None:
    values = value if isinstance(value, list | tuple) else [value]
    size = sum(len(str(v)) for v in values if v is not None)
    if size > limits.max_text_bytes:
        raise LimitExceeded(
            "max_text_bytes",
            f"text element {_tag_text(tag)} ({vr}) holds {size} characters "
            f"(at most {limits.max_text_bytes})",
        )


_ITEM_TAGS = (b"\xfe\xff\x00\xe0", b"\xff\xfe\xe0\x00")  # (FFFE,E000) LE and BE
_SCAN_CHUNK = 8 * MIB


def prescan(path: Path, limits: Limits) -> None:
    """Refuse a file with more sequence items than allowed before pydicom parses it.

    pydicom parses sequences of undefined length as it reads the header, item by item, so
    :func:`check_dataset` would come too late for a file of a million empty items. Counting
    the item tag's bytes (a C-speed scan of the first ``max_header_bytes``) gives an upper
    bound: it also counts pixel data fragments and chance matches, far fewer than the limit.
    """
    count = 0
    with open(path, "rb") as fh:
        tail = b""
        read = 0
        while read < limits.max_header_bytes:
            chunk = fh.read(min(_SCAN_CHUNK, limits.max_header_bytes - read))
            if not chunk:
                break
            read += len(chunk)
            data = tail + chunk
            count += sum(data.count(tag) for tag in _ITEM_TAGS)
            tail = data[-3:]
            count -= sum(tail.count(tag) for tag in _ITEM_TAGS)  # counted again next round
            if count > limits.max_sequence_items:
                raise LimitExceeded(
                    "max_sequence_items",
                    f"more than {limits.max_sequence_items} sequence items in the file",
                )


@contextmanager
def time_limit(seconds: float, what: str = "max_seconds_per_file") -> Iterator[None]:
    """Raise :class:`LimitExceeded` in the block after ``seconds`` of wall time.

    Uses ``SIGALRM``, so it works only in the main thread of a process (the worker and
    ``vp-log import`` both run files there); elsewhere, and for ``seconds <= 0``, the block
    runs unbounded.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_alarm(_signum: int, _frame: FrameType | None) -> None:
        raise LimitExceeded(what, f"the file took more than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space (``RLIMIT_AS``) at ``megabytes``; 0 leaves it.

    Never raises the limit above what the process already has; a failure to set it is
    logged, not fatal (some containers forbid it).
    """
    if megabytes <= 0:
        return
    wanted = megabytes * MIB
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            wanted = min(wanted, hard)
        if soft == resource.RLIM_INFINITY or wanted < soft:
            resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    except (OSError, ValueError) as exc:
        logger.warning("cannot limit memory to %d MB: %s", megabytes, exc)
