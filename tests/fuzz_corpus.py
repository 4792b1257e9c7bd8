"""A seeded corpus of hostile DICOM files, for tests (a few hundred) and ``bench/`` (10 000).

``write_fuzz_corpus(out_dir, count, seed=0)`` starts from the generated sample cases (real
XA images, a GSPS, a TID 1500 SR, a TID 10001 dose report) and writes ``count`` files, each
made by one mutation, chosen in turn from :data:`MUTATIONS`:

- byte level: truncation, byte flips, a length field past the end of the file, odd lengths,
  an undefined length on a non-sequence element;
- structure: sequences nested deep (a 6.8 KB SR nested hundreds of levels) and wide (many
  thousands of content items), huge text values, NULs and non-ASCII in text;
- identity: UIDs with path characters, backslashes (multi-values), letters, more than 64
  characters; no SOP Instance UID; no Study Instance UID; one SOP Instance UID reused with
  different content in another study;
- values: impossible dates and times, NaN, infinite and negative dose numbers.

Same ``count`` and ``seed``, same bytes. Every file gets its own SOP Instance UID (in the
file meta and, unless the mutation is about it, in the dataset) so that each can be
accounted for; :class:`FuzzFile` says which mutation made it and which UID it carries.
"""

from __future__ import annotations

import copy
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid

from vp_log.samples import write_case

ROOT = "1.2.826.0.1.3680043.10.1234."  # UIDs of the corpus (a private-looking root)


@dataclass(frozen=True)
class FuzzFile:
    path: Path
    mutation: str
    sop_instance_uid: str  # what the file meta says (the C-STORE's Affected SOP Instance UID)


@dataclass(frozen=True)
class _Base:
    name: str
    dataset: Dataset


def _uid(rng: random.Random) -> str:
    return ROOT + ".".join(str(rng.randrange(1, 10**9)) for _ in range(3))


def _bases(work: Path) -> list[_Base]:
    out: list[_Base] = []
    for case in ("vp-two-level", "kp-one-level"):
        manifest = write_case(case, work / case, seed=0, size="small")
        for f in manifest.files:
            out.append(_Base(f"{case}/{f.path.name}", pydicom.dcmread(f.path)))
    return out


def _encode(ds: Dataset, *, implicit: bool = False) -> bytes:
    """``ds`` as a Part 10 file (its file meta rebuilt from its UIDs where they are text)."""
    import io

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = str(ds.get("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7"))
    meta.MediaStorageSOPInstanceUID = str(ds.get("SOPInstanceUID", "") or "1.2.3")
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds.file_meta = meta
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def _meta_uid(ds: Dataset) -> str:
    return str(ds.file_meta.MediaStorageSOPInstanceUID)


def _fresh(base: _Base, rng: random.Random) -> Dataset:
    ds = copy.deepcopy(base.dataset)  # Dataset.copy() shares the elements: no leaks
    ds.SOPInstanceUID = _uid(rng)
    ds.StudyInstanceUID = ROOT + "9." + str(rng.randrange(1, 50))  # a few dozen studies
    return ds


Mutation = Callable[[_Base, random.Random], tuple[bytes, str]]


def _data_offset(data: bytes) -> int:
    """Where the dataset starts (after preamble, prefix and file meta group)."""
    pos = 132
    while pos + 8 <= len(data) and data[pos : pos + 2] == b"\x02\x00":
        vr = data[pos + 4 : pos + 6]
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UC", b"UR"):
            length = struct.unpack_from("<I", data, pos + 8)[0]
            pos += 12 + length
        else:
            length = struct.unpack_from("<H", data, pos + 6)[0]
            pos += 8 + length
    return pos


def _length_fields(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of the 16-bit length fields of short explicit-VR elements in the dataset."""
    out = []
    pos = _data_offset(data)
    while pos + 8 <= len(data):
        vr = data[pos + 4 : pos + 6]
        if not vr.isalpha():
            break
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT", b"UC", b"UR", b"OF", b"OD", b"OL", b"UV"):
            length = struct.unpack_from("<I", data, pos + 8)[0]
            if length == 0xFFFFFFFF:
                pos += 12  # step into the sequence
                continue
            out.append((pos + 8, 4))
            pos += 12 + length
        else:
            out.append((pos + 6, 2))
            pos += 8 + struct.unpack_from("<H", data, pos + 6)[0]
    return out


def truncate(base: _Base, rng: random.Random) -> tuple[bytes, str]:
    ds = _fresh(base, rng)
    data = _encode(ds)
    start = _data_offset(data)
    return data[: rng.randrange(start, len(data))], _meta_uid(ds)


def byte_flips(base: _Base, rng: random.Random) -> tuple[bytes, str]:
    ds = _fresh(base, rng)
    data = bytearray(_encode(ds))
    start = _data_offset(bytes(data))
    for _ in range(rng.choice((1, 3, 10, 40))):
        data[rng.randrange(start, len(data))] ^= 1 << rng.randrange(8)
    return bytes(data), _meta_uid(ds)


def length_past_end(base: _Base, rng: random.Random) -> tuple[bytes, str]:
    ds = _fresh(base, rng)
    data = bytearray(_encode(ds))
    fields = _length_fields(bytes(data))
    offset, size = rng.choice(fields[len(fields) // 4 :])
    if size == 2:
        struct.pack_into("<H", data, offset, 0xFFF0)
    else:
        struct.pack_into("<I", data, offset, rng.choice((0x7FFFFFF0, 0xFFFFFFF0, len(data) * 4)))
    return bytes(data), _meta_uid(ds)


def odd_length(base: _Base, rng: random.Random) -> tuple[bytes, str]:
    ds = _fresh(base, rng)
    data = bytearray(_encode(ds))
    offset, size = rng.choice(_length_fields(bytes(data)))
    fmt = "<H" if size == 2 else "<I"
    value = struct.unpack_from(fmt, data, offset)[0]
    struct.pack_into(fmt, data, offset, value | 1 if value < 0xFFFF else value - 1)
    return bytes(data), _meta_uid(ds)


def undefined_length(base: _Base, rng: random.Random) -> tuple[bytes, str]:
    ds = _fresh(base, rng)
    data = bytearray(_encode(ds))
    long_fields = [(o, s) for o, s in _length_fields(bytes(data)) if s == 4]
    if not long_fields:
        return truncate(base, rng)
    offset, _ = rng.choice(long_fields)
    struct.pack_into("<I", data, offset, 0xFFFFFFFF)
    return bytes(data), _meta_uid(ds)


def _element(tag: int, vr: bytes, value: bytes) -> bytes:
    """One Explicit VR Little Endian element (defined length)."""
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr
    if vr in (b"SQ", b"OB", b"OW", b"UN", b"UT", b"UC", b"UR"):
        return head + b"\0\0" + struct.pack("<I", len(value)) + value
    return head + struct.pack("<H", len(value)) + value


def _text(value: str) -> bytes:
    raw = value.encode()
    return raw + b" " if len(raw) % 2 else raw


_ITEM = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
_ITEM_END = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
_SEQ_END = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


def _sequence_open(tag: int) -> bytes:
    return struct.pack("<HH", tag >> 16, tag & 0xFFFF) + b"SQ\0\0" + struct.pack("<I", 0xFFFFFFFF)


def _concept(value: str, scheme: str) -> bytes:
    code = _element(0x00080100, b"SH", _text(value)) + _element(0x00080102, b"SH", _text(scheme))
    return _sequence_open(0x0040A043) + _ITEM + code + _ITEM_END + _SEQ_END


def _content_item(value_type: str, concept: tuple[str, str], body: bytes = b"") -> bytes:
    """The elements of a content item up to (not including) its ContentSequence."""
    return (
        _element(0x0040A010, b"CS", _text("CONTAINS"))
        + _element(0x0040A040, b"CS", _text(value_type))
        + _concept(*concept)
        + body
    )


def _nested(depth: int, leaf: bytes = b"") -> bytes:
    """A chain of ``depth`` CONTAINER items, each the only child of the one above (bytes)."""
    opening = _content_item("CONTAINER", ("113702", "DCM")) + _sequence_open(0x0040A730) + _ITEM
    closing = _ITEM_END + _SEQ_END
    return opening * depth + leaf + closing * depth


_VOLUME_NUM = _content_item(
    "NUM",
    ("118565006", "SCT"),
    _element(
        0x0040A300,
        b"SQ",
        b"",
    ),
)


def _sr_with_content(ds: Dataset, content: bytes, *, implicit: bool = False) -> bytes:
    """``ds`` (no ContentSequence) encoded, with ``content`` as its ContentSequence items."""
    for elem in list(ds):
        if elem.tag >= 0x0040A730:
            del ds[elem.tag]
    data = _encode(ds)
    return data + _sequence_open(0x0040A730) + content + _SEQ_END


def deep_sequence(base: _Base, rng: random.Random) -> tuple[bytes, str]:
    """An SR whose content nests deep (the 6.8 KB SR of the campaign is ~55 levels)."""
    ds = _sr_base(base, rng)
    depth = rng.choice((30, 55, 200, 2000))
    content = _ITEM + _nested(depth) + _ITEM_END
    return _sr_with_content(ds, content), _meta_uid(ds)


def wide_sequence(base: _Base, rng: random.Random) -> tuple[bytes, str]:
    """An SR with many thousands of content items side by side, each nested a few levels."""
    ds = _sr_base(base, rng)
    width = rng.choice((500, 5_000, 50_000))
    child = _ITEM + _nested(rng.randrange(1, 6), _VOLUME_NUM) + _ITEM_END
    return _sr_with_content(ds, child * width), _meta_uid(ds)


def _sr_base(base: _Base, rng: random.Random) -> Dataset:
    ds = _fresh(base, rng)
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.67"
    ds.Modality = "SR"
    ds.ValueType = "CONTAINER"
    for keyword in ("PixelData", "ContentSequence"):
        if keyword in ds:
            del ds[keyword]
    return ds


def huge_text(base: _Base, rng: random.Random) -> tuple[bytes, str]:
    ds = _fresh(base, rng)
    size = rng.choice((70_000, 2_000_000, 5_000_000))
    keyword = rng.choice(("ImageComments", "StudyDescription", "SeriesDescription"))
    text = ("L1 3 ml " * (size // 8 + 1))[:size]
    if keyword == "ImageComments":
        ds.ImageComments = text
    else:
        # LO is 64 characters at most; the element is written as UT to carry the length.
        ds.add_new(keyword, "UT", text)
    return _encode(ds), _meta_uid(ds)


def control_text(base: _Base, rng: random.Random) -> tuple[bytes, str]:
    ds = _fresh(base, rng)
    ds.PatientName = rng.choice(
        ("Doe^Jane\x1b[31mRED\x1b[0m", "A\x00B^C", "Müller^Jürgen", "Ωμέγα^Δ", "x\nFAKE LOG")
    )
    ds.StudyDescription = rng.choice(
        ("VERTEBROPLASTIE L1\x00\x00", "\x1b]0;pwned\x07kypho", "cifoplastia L2 ñ 3 ml", "\u202e")
    )
    ds.ImageComments = "T12 3,5 ml \x00\x01\x02\x7f\x9b bipédiculaire"
    return _encode(ds), _meta_uid(ds)


def bad_uid(base: _Base, rng: random.Random) -> tuple[bytes, str]:
    ds = _fresh(base, rng)
    kind = rng.choice(("path", "backslash", "letters", "long", "study-path", "newline"))
    if kind == "path":
        ds.SOPInstanceUID = f"../../../etc/{rng.randrange(10**6)}/passwd"
    elif kind == "backslash":
        ds.SOPInstanceUID = [_uid(rng), _uid(rng)]
    elif kind == "letters":
        ds.SOPInstanceUID = f"1.2.abc.{rng.randrange(10**6)}"
    elif kind == "long":
        ds.SOPInstanceUID = "1." + "2" * rng.choice((70, 200)) + f".{rng.randrange(10**6)}"
    elif kind == "study-path":
        ds.StudyInstanceUID = f"/tmp/{rng.randrange(10**6)}\\..\\x"
    else:
        ds.StudyInstanceUID = f"1.2.3.{rng.randrange(10**6)}\nFAKE LOG LINE"
    data = _encode(ds)
    # The file meta carries the same text: a PACS forwards what it was given.
    return data, _meta_uid(ds)


def missing_uid(base: _Base, rng: random.Random) -> tuple[bytes, str]:
    ds = _fresh(base, rng)
    meta_uid = _uid(rng)
    if rng.random() < 0.5:
        del ds.SOPInstanceUID
    else:
        del ds.StudyInstanceUID
    data = _encode(ds)
    if "SOPInstanceUID" not in ds:
        ds.file_meta.MediaStorageSOPInstanceUID = meta_uid
        import io

        buffer = io.BytesIO()
        pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
        data = buffer.getvalue()
    return data, _meta_uid(ds)


def impossible_dates(base: _Base, rng: random.Random) -> tuple[bytes, str]:
    ds = _fresh(base, rng)
    ds.StudyDate = rng.choice(("20231345", "00000000", "99999999", "2023-02-30", "abcdefgh"))
    ds.StudyTime = rng.choice(("256199", "xx", "-1", "999999.9999999"))
    ds.AcquisitionDateTime = rng.choice(("20230230250000", "1", "20230101120000+9999"))
    ds.PatientBirthDate = rng.choice(("30000101", "18000101", "20231301"))
    return _encode(ds), _meta_uid(ds)


def bad_dose_numbers(base: _Base, rng: random.Random) -> tuple[bytes, str]:
    ds = _fresh(base, rng)
    values = ("NaN", "-inf", "inf", "-12.5", "1e308", "-0", "1e-320", "")
    for elem in ds.iterall():
        if elem.keyword == "NumericValue":
            elem.value = rng.choice(values)
    for keyword in ("ImageAndFluoroscopyAreaDoseProduct", "KVP", "DistanceSourceToDetector"):
        if keyword in ds:
            ds[keyword].value = rng.choice(("NaN", "-5", "inf", "-1e9"))
    return _encode(ds), _meta_uid(ds)


def reused_uid(base: _Base, rng: random.Random) -> tuple[bytes, str]:
    """The same SOP Instance UID as an earlier file of the corpus, other study, other content."""
    ds = _fresh(base, rng)
    ds.SOPInstanceUID = _REUSED_UID
    ds.StudyInstanceUID = ROOT + "7." + str(rng.randrange(1, 10**6))
    ds.StudyDescription = f"adjusted {rng.randrange(10**6)}"
    return _encode(ds), _meta_uid(ds)


_REUSED_UID = ROOT + "5.5.5"

MUTATIONS: dict[str, Mutation] = {
    "truncate": truncate,
    "byte-flips": byte_flips,
    "length-past-end": length_past_end,
    "odd-length": odd_length,
    "undefined-length": undefined_length,
    "deep-sequence": deep_sequence,
    "wide-sequence": wide_sequence,
    "huge-text": huge_text,
    "control-text": control_text,
    "bad-uid": bad_uid,
    "missing-uid": missing_uid,
    "impossible-dates": impossible_dates,
    "bad-dose-numbers": bad_dose_numbers,
    "reused-uid": reused_uid,
}

# How often each mutation is drawn (the byte-level ones most, as in the campaign).
WEIGHTS: dict[str, int] = {
    "truncate": 4,
    "byte-flips": 8,
    "length-past-end": 4,
    "odd-length": 3,
    "undefined-length": 2,
    "deep-sequence": 1,
    "wide-sequence": 1,
    "huge-text": 1,
    "control-text": 2,
    "bad-uid": 3,
    "missing-uid": 1,
    "impossible-dates": 2,
    "bad-dose-numbers": 3,
    "reused-uid": 1,
}


def write_fuzz_corpus(
    out_dir: Path, count: int, *, seed: int = 0, good_every: int = 0
) -> list[FuzzFile]:
    """Write ``count`` mutated files into ``out_dir`` (``NNNNN_<mutation>.dcm``).

    Every mutation appears at least once when ``count >= len(MUTATIONS)``; the rest are
    drawn by :data:`WEIGHTS`. ``good_every`` > 0 puts an unmutated file (new UIDs) at every
    ``good_every``-th place.
    """
    rng = random.Random(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    bases = _bases(out_dir / ".bases")
    names = list(MUTATIONS)
    order = names[: min(count, len(names))]
    order += rng.choices(names, weights=[WEIGHTS[n] for n in names], k=count - len(order))
    files: list[FuzzFile] = []
    for index, name in enumerate(order):
        base = bases[rng.randrange(len(bases))]
        if good_every and index % good_every == good_every - 1:
            ds = _fresh(base, rng)
            data, uid, made_by = _encode(ds), _meta_uid(ds), "good"
        else:
            data, uid = MUTATIONS[name](base, rng)
            made_by = name
        path = out_dir / f"{index:05d}_{made_by}.dcm"
        path.write_bytes(data)
        files.append(FuzzFile(path, made_by, uid))
    _remove_tree(out_dir / ".bases")
    return files


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def new_uid() -> str:
    return str(generate_uid())
