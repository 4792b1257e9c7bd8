"""The vocabulary file: packaged default, site copy, validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from vp_log.vocabulary import Approach, Side, VocabularyError, load_vocabulary

REPO = Path(__file__).resolve().parents[2]


def test_default_loads() -> None:
    vocabulary = load_vocabulary()
    assert set(vocabulary.approaches) == set(Approach)
    assert set(vocabulary.sides) == set(Side)
    assert vocabulary.cpt.codes["22512"].add_on
    assert vocabulary.plausibility.vertebral_max_ml == 12.0


def test_site_copy_is_identical_to_the_packaged_default() -> None:
    packaged = REPO / "src" / "vp_log" / "defaults" / "vocabulary.toml"
    assert (REPO / "config" / "vocabulary.toml").read_text() == packaged.read_text()
    site = load_vocabulary(REPO / "config" / "vocabulary.toml")
    assert site.model_dump() == load_vocabulary().model_dump()


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[volume]\nunits = 3\n", "volume.units"),
        ("[volume]\ncement_wrds = []\n", "volume.cement_wrds"),
        ('[cpt.codes.22510]\nprocedure_type = "spinal fusion"\n', "cpt.codes.22510.procedure_type"),
        ('[approaches]\nsideways = ["x"]\n', "approaches.sideways"),
        ("[plausibility]\nvertebral_max_ml = -1\n", "plausibility.vertebral_max_ml"),
        ('[[ris_codes]]\ncode = "X"\nprocedure_type = "kyphoplasty"\n', "ris_codes.0.scheme"),
    ],
)
def test_bad_file_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    path = tmp_path / "vocabulary.toml"
    path.write_text(text)
    with pytest.raises(VocabularyError, match=f'key "{key}') as info:
        load_vocabulary(path)
    assert str(path) in str(info.value)


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[volume\n")
    with pytest.raises(VocabularyError, match="is not valid TOML"):
        load_vocabulary(path)
    with pytest.raises(VocabularyError, match="Cannot read"):
        load_vocabulary(tmp_path / "absent.toml")
    with pytest.raises(TypeError, match='Argument "path"'):
        load_vocabulary("x.toml")  # type: ignore[arg-type]


def test_site_list_replaces_the_default(tmp_path: Path) -> None:
    path = tmp_path / "v.toml"
    path.write_text('[sides]\nleft = ["links"]\n')
    vocabulary = load_vocabulary(path)
    assert vocabulary.sides[Side.LEFT] == ["links"]
    assert "right" in vocabulary.sides[Side.RIGHT]


def test_find_words_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match='Argument "kind"'):
        load_vocabulary().find_words("colour", "red")
