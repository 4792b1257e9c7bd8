"""Settings: file < environment, refusals that name the setting, the documented example."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import REPO
from vp_log.config import SettingsError, load_settings, setting_sources


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("VP_LOG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("VP_LOG_DATA_DIR", str(tmp_path / "data"))


def test_defaults(tmp_path: Path) -> None:
    s = load_settings()
    assert (s.ae_title, s.port, s.allowed_calling_aets, s.quiet_period_s) == (
        "VPLOG",
        11112,
        [],
        120,
    )
    assert s.keep_pixel_data is False
    assert s.db_url == f"sqlite:///{tmp_path / 'data' / 'vp_log.db'}"


def test_documented_example_loads() -> None:
    s = load_settings(REPO / "config" / "vp_log.toml")
    assert s.ae_title == "VPLOG" and s.bind_address == "0.0.0.0"


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "vp.toml"
    cfg.write_text('ae_title = "SITEVP"\nport = 104\nallowed_calling_aets = ["PACS"]\n')
    monkeypatch.setenv("VP_LOG_PORT", "11113")
    monkeypatch.setenv("VP_LOG_CONFIG", str(cfg))
    s = load_settings()
    assert (s.ae_title, s.port, s.allowed_calling_aets) == ("SITEVP", 11113, ["PACS"])
    monkeypatch.setenv("VP_LOG_ALLOWED_CALLING_AETS", "PACS1, CARM_OR3")
    assert load_settings().allowed_calling_aets == ["PACS1", "CARM_OR3"]


@pytest.mark.parametrize(
    ("env", "value", "words"),
    [
        ("VP_LOG_PORT", "70000", ["port", "VP_LOG_PORT", "65535"]),
        ("VP_LOG_PORT", "eleven", ["port", "eleven"]),
        ("VP_LOG_AE_TITLE", "A" * 17, ["ae_title", "16"]),
        ("VP_LOG_AE_TITLE", "BAD\\AE", ["ae_title", "backslash"]),
        ("VP_LOG_QUIET_PERIOD_S", "-5", ["quiet_period_s", "must be more than 0"]),
        ("VP_LOG_DATABASE_URL", "mysql://x", ["database_url", "sqlite"]),
        ("VP_LOG_LOG_LEVEL", "LOUD", ["log_level", "LOUD"]),
        ("VP_LOG_KEEP_PIXEL_DATA", "perhaps", ["keep_pixel_data", "perhaps"]),
    ],
)
def test_bad_values_are_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, words: list[str]
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    for word in words:
        assert word in str(info.value)


def test_unknown_key_and_missing_file(tmp_path: Path) -> None:
    cfg = tmp_path / "vp.toml"
    cfg.write_text("prot = 104\n")
    with pytest.raises(SettingsError, match="Unknown setting 'prot'"):
        load_settings(cfg)
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")
    cfg.write_text("port = \n")
    with pytest.raises(SettingsError, match=str(cfg)):
        load_settings(cfg)


def test_tls_needs_certificate_and_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VP_LOG_TLS_CERTIFICATE", str(tmp_path / "c.pem"))
    with pytest.raises(SettingsError, match="tls_certificate and tls_private_key"):
        load_settings()


def test_postgresql_url_gets_the_psycopg_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VP_LOG_DATABASE_URL", "postgresql://u@db:5432/vp")
    assert load_settings().db_url == "postgresql+psycopg://u@db:5432/vp"


def test_misspelt_environment_variable_stops_start_up_naming_the_closest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VP_LOG_PORTT", "104")
    monkeypatch.setenv("VP_LOG_QUIET_PERIOD", "5")
    with pytest.raises(SettingsError) as info:
        load_settings()
    text = str(info.value)
    assert "Unknown environment variable VP_LOG_PORTT (did you mean VP_LOG_PORT?)" in text
    assert "VP_LOG_QUIET_PERIOD (did you mean VP_LOG_QUIET_PERIOD_S?)" in text
    monkeypatch.delenv("VP_LOG_PORTT")
    monkeypatch.delenv("VP_LOG_QUIET_PERIOD")
    monkeypatch.setenv("VP_LOG_CONFIG", "")  # the file variable is known, empty means none
    assert load_settings().port == 11112


def test_misspelt_file_key_names_the_closest(tmp_path: Path) -> None:
    cfg = tmp_path / "vp.toml"
    cfg.write_text('ae_titel = "X"\n')
    with pytest.raises(SettingsError, match=r"Unknown setting 'ae_titel'.*did you mean 'ae_title'"):
        load_settings(cfg)


def test_flags_beat_environment_beat_file_and_sources_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "vp.toml"
    cfg.write_text('ae_title = "FILEAE"\nport = 104\nquiet_period_s = 30\n')
    monkeypatch.setenv("VP_LOG_PORT", "11113")
    monkeypatch.setenv("VP_LOG_QUIET_PERIOD_S", "60")
    s = load_settings(cfg, port=30430)
    assert (s.ae_title, s.port, s.quiet_period_s, s.max_associations) == ("FILEAE", 30430, 60, 16)
    sources = setting_sources(cfg, {"port": 30430})
    assert sources["port"] == "flag"
    assert sources["quiet_period_s"] == "environment VP_LOG_QUIET_PERIOD_S"
    assert sources["ae_title"] == f"file {cfg}"
    assert sources["max_associations"] == "default"
    assert sources["data_dir"] == "environment VP_LOG_DATA_DIR"  # the fixture sets it


def test_file_alone_ignores_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tmp_path / "vp.toml"
    cfg.write_text("port = 104\n")
    monkeypatch.setenv("VP_LOG_PORT", "eleven")
    monkeypatch.setenv("VP_LOG_PORTT", "1")
    assert load_settings(cfg, use_environment=False).port == 104
