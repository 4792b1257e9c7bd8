"""The dataset tree (vp_log.tree) gives the extractors what pydicom's datasets give them.

Every sample file, every generated case and a fuzz corpus are extracted twice: from the tree
parsed from the raw bytes, and from pydicom's own datasets (the reading before the tree);
the observations must be the same, value for value. The limits judged on the tree must
agree with the limits judged by pydicom.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from conftest import SAMPLES
from vp_log.extract import ExtractionContext, extract_all
from vp_log.extract.sr import find_content_items
from vp_log.limits import LimitExceeded, Limits, check_dataset, check_with_pydicom
from vp_log.pipeline import RejectedFile, read_header
from vp_log.samples import CaseName, write_case
from vp_log.tree import Bounds, DatasetItem, Doubt, dataset_tree, read_tree
from vp_log.vocabulary import load_vocabulary

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fuzz_corpus as fc

CONTEXT = ExtractionContext(vocabulary=load_vocabulary())


def _files(tmp_path: Path) -> list[Path]:
    files = sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.suffix.lower() != ".tsv")
    for case in CaseName:
        files += write_case(case, tmp_path / str(case), seed=1).paths()
    return files


def _read(path: Path) -> Dataset | None:
    try:
        return read_header(path)
    except RejectedFile:
        return None


def _rows(ds: Dataset, tree: object) -> list[dict[str, object]]:
    return [o.model_dump(mode="json") for o in extract_all(tree, CONTEXT)]  # type: ignore[arg-type]


def test_tree_and_pydicom_give_the_same_observations(tmp_path: Path) -> None:
    parsed = 0
    for path in _files(tmp_path):
        if (ds := _read(path)) is None:
            continue
        try:
            tree: DatasetItem = read_tree(ds, Bounds())
            parsed += 1
        except Doubt:
            continue
        slow = _read(path)
        assert slow is not None
        assert _rows(ds, tree) == _rows(slow, dataset_tree(slow)), path
    assert parsed > 50  # the tree reads the samples; pydicom is the exception


def test_fuzz_corpus_limits_agree_with_pydicom(tmp_path: Path) -> None:
    limits = Limits(max_sequence_items=2_000, max_text_bytes=4096, max_sequence_depth=8)
    for f in fc.write_fuzz_corpus(tmp_path / "corpus", 80, seed=11):
        if (ds := _read(f.path)) is None:
            continue
        try:
            check_dataset(ds, limits)
        except LimitExceeded as fast:
            with pytest.raises(LimitExceeded) as slow:
                check_with_pydicom(_read(f.path) or Dataset(), limits)
            assert str(fast) == str(slow.value)
            continue
        except Exception:  # pydicom cannot decode a sequence: rejected as before
            continue
        check_with_pydicom(_read(f.path) or Dataset(), limits)  # accepted by both


def test_dataset_built_in_code_reads_as_its_values() -> None:
    item = Dataset()
    item.ValueType = "NUM"
    concept = Dataset()
    concept.CodeValue, concept.CodingSchemeDesignator = "113722", "DCM"
    item.ConceptNameCodeSequence = Sequence([concept])
    ds = Dataset()
    ds.ContentSequence = Sequence([item])
    (found,) = find_content_items(ds, name=("113722", "DCM"))
    assert found.value_type == "NUM" and found.path_text() == "sr:(DCM,113722)"


def test_undefined_length_sequences_are_read_from_the_tree_too(tmp_path: Path) -> None:
    (path,) = [f.path for f in write_case("vp-two-level", tmp_path, seed=0).files][-1:]
    ds = pydicom.dcmread(path)
    for elem in ds.iterall():
        if elem.VR == "SQ":
            elem.is_undefined_length = True
    out = tmp_path / "undefined.dcm"
    ds.save_as(out)
    fast, slow = read_header(out), read_header(out)
    tree = read_tree(fast, Bounds())
    assert _rows(fast, tree) == _rows(slow, dataset_tree(slow))
