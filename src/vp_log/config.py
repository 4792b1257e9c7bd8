"""Settings (pydantic-settings): defaults < TOML file < ``VP_LOG_*`` environment < flags.

The TOML file is the one named by ``--config`` or ``VP_LOG_CONFIG``; a bad value, an unknown
key or an unknown ``VP_LOG_*`` variable stops start-up with a message naming the setting
(:class:`SettingsError`). :func:`setting_sources` says where each value came from.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Annotated, Any, cast

import platformdirs
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from vp_log.text import plain_reason

ENV_PREFIX = "VP_LOG_"
CONFIG_ENV = "VP_LOG_CONFIG"
#: The settings that ``vp-log listen`` also takes as options, and the options' names.
LISTEN_FLAGS = {
    "port": "--port",
    "ae_title": "--aet",
    "bind_address": "--bind",
    "data_dir": "--data-dir",
}
_AE_TITLE = re.compile(r"^[\x20-\x5b\x5d-\x7e]{1,16}$")  # printable ASCII, no backslash


class SettingsError(ValueError):
    """Configuration that vp_log refuses to start with; the message names the setting."""


def _check_ae_title(value: str, what: str) -> str:
    stripped = value.strip()
    if not stripped or not _AE_TITLE.match(stripped):
        msg = f"{what} must be 1-16 printable ASCII characters without a backslash, got {value!r}"
        raise ValueError(msg)
    return stripped


class Settings(BaseSettings):
    """Everything a department may set. See ``config/vp_log.toml`` for the documented example."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", validate_default=True, frozen=True
    )

    ae_title: str = Field("VPLOG", description="Our AE title; PACS sends to it")
    bind_address: str = Field("0.0.0.0", description="Address the listener binds to")  # noqa: S104
    port: int = Field(11112, ge=1, le=65535, description="TCP port of the listener")
    allowed_calling_aets: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Calling AE titles accepted; empty accepts any"
    )
    accept_any_called_aet: bool = Field(
        False, description="Accept associations addressed to any called AE title, not only ours"
    )
    data_dir: Path = Field(
        default_factory=lambda: platformdirs.user_data_path("vp_log"),
        description="Spool, quarantine, header archive and the default SQLite database",
    )
    database_url: str = Field(
        "", description="SQLAlchemy URL; empty means SQLite in the data folder"
    )
    quiet_period_s: float = Field(
        120.0,
        gt=0,
        allow_inf_nan=False,
        description="Seconds without a new instance before a study is complete",
    )
    keep_pixel_data: bool = Field(
        False, description="Keep the whole instance after extraction (default: header only)"
    )
    max_pdu_size: int = Field(
        262144, ge=0, description="Largest PDU we accept (0 = unlimited); bigger is faster"
    )
    network_timeout_s: float = Field(
        60.0, gt=0, le=3600, description="Idle association, or one PDU, aborted after this"
    )
    association_timeout_s: float = Field(
        10.0, gt=0, le=600, description="ARTIM: connect (and TLS) to A-ASSOCIATE-RQ, at most"
    )
    max_associations: int = Field(16, ge=1, le=256, description="Concurrent associations")
    max_connections: int = Field(
        200, ge=2, le=2000, description="Open TCP connections, associated or not"
    )
    receive_processes: int = Field(
        1,
        ge=1,
        le=16,
        description="Processes receiving on the port, each on a core of its own "
        "(max_connections is per process)",
    )
    disk_reserve_mb: int = Field(
        512, ge=0, description="Refuse C-STOREs (0xA700) below this free space in the data folder"
    )
    tls_certificate: Path | None = Field(None, description="PEM certificate: enables TLS")
    tls_private_key: Path | None = Field(None, description="PEM private key for TLS")
    tls_ca_certificates: Path | None = Field(
        None, description="CA bundle: when set, callers must present a certificate it signed"
    )
    vocabulary_path: Path | None = Field(
        None, description="Annotation vocabulary TOML; empty uses the built-in one"
    )
    followup_schedule_path: Path | None = Field(
        None, description="Follow-up schedule TOML; empty uses the built-in one"
    )
    report_settings_path: Path | None = Field(
        None, description="Report thresholds and dose reference levels TOML; empty: built-in"
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    # Dose follow-up levels: NCRP Report No. 168 (2010) substantial radiation dose levels.
    dose_alert_ka_r_mgy: float = Field(
        5000.0, ge=0, description="Reference point air kerma (mGy) that alerts; 0: never"
    )
    dose_alert_dap_gy_cm2: float = Field(
        500.0, ge=0, description="Dose-area product (Gy·cm²) that alerts; 0: never"
    )
    dose_alert_fluoro_time_min: float = Field(
        60.0, ge=0, description="Fluoroscopy time (minutes) that alerts; 0: never"
    )
    dose_alert_window_days: int = Field(
        42, ge=1, le=3650, description="Days over which a patient's doses are added up"
    )
    # --- bounded work per file (vp_log.limits): exceeding one quarantines the file --------
    max_header_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Bytes before the pixel data a file may have"
    )
    max_element_bytes: int = Field(
        64 * 1024 * 1024, ge=1024, description="Longest data element (pixel data aside)"
    )
    max_text_bytes: int = Field(
        1024 * 1024, ge=1024, description="Longest text value (LO, LT, UT, PN, ...)"
    )
    max_sequence_depth: int = Field(32, ge=4, description="Deepest nesting of sequences")
    max_sequence_items: int = Field(
        100_000, ge=100, description="Sequence items in one file, all sequences together"
    )
    max_seconds_per_file: float = Field(
        20.0, gt=0, allow_inf_nan=False, description="Wall time to read and extract one file"
    )
    max_memory_mb: int = Field(
        3072, ge=0, description="Address space of the worker and of import (0: no limit)"
    )
    max_attempts: int = Field(
        3, ge=1, description="Worker crashes on one file before it is set aside"
    )

    @field_validator("ae_title")
    @classmethod
    def _ae_title(cls, value: str) -> str:
        return _check_ae_title(value, "AE title")

    @field_validator("allowed_calling_aets", mode="before")
    @classmethod
    def _split_aets(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part for part in re.split(r"[,\s]+", value) if part]
        return value

    @field_validator("allowed_calling_aets")
    @classmethod
    def _aets(cls, value: list[str]) -> list[str]:
        return [_check_ae_title(v, "Calling AE title") for v in value]

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            msg = f"must be DEBUG, INFO, WARNING or ERROR, got {value!r}"
            raise ValueError(msg)
        return upper

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if value and not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
            msg = f"must be a sqlite:/// or postgresql:// URL, got {value!r}"
            raise ValueError(msg)
        if value.startswith("postgresql://"):
            return "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> Settings:
        if (self.tls_certificate is None) != (self.tls_private_key is None):
            msg = "tls_certificate and tls_private_key must be given together"
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _connections(self) -> Settings:
        if self.max_connections <= self.max_associations:
            msg = (
                f"max_connections ({self.max_connections}) must be above max_associations "
                f"({self.max_associations})"
            )
            raise ValueError(msg)
        return self

    @property
    def db_url(self) -> str:
        """The database URL in force (SQLite in the data folder unless one is set)."""
        return self.database_url or f"sqlite:///{self.data_dir / 'vp_log.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file named in model_config["toml_file"] (set by load_settings), if any.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def redact_url(url: str) -> str:
    """A database URL without its password, for logs and ``vp-log config show``."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url


def config_path(config_file: Path | None = None) -> Path | None:
    """The configuration file in force: ``--config``, else ``VP_LOG_CONFIG``, else none."""
    if config_file is not None:
        return config_file
    named = os.environ.get(CONFIG_ENV)
    return Path(named) if named else None


def environment_name(field: str) -> str:
    """The ``VP_LOG_*`` variable of a setting."""
    return f"{ENV_PREFIX}{field.upper()}"


def check_environment(environ: Mapping[str, str] | None = None) -> None:
    """Refuse ``VP_LOG_*`` variables that are no setting (a misspelt one would be ignored).

    Raises :class:`SettingsError` naming each and the closest real setting.
    """
    env = os.environ if environ is None else environ
    known = {environment_name(name) for name in Settings.model_fields} | {CONFIG_ENV}
    unknown = sorted(
        name for name in env if name.upper().startswith(ENV_PREFIX) and name.upper() not in known
    )
    if not unknown:
        return
    lines = []
    for name in unknown:
        close = difflib.get_close_matches(name.upper(), sorted(known), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else ""
        lines.append(f"Unknown environment variable {name}{hint}")
    raise SettingsError("Invalid configuration: " + "; ".join(lines))


def load_settings(
    config_file: Path | None = None, *, use_environment: bool = True, **overrides: Any
) -> Settings:
    """Settings from ``config_file`` (or ``VP_LOG_CONFIG``), the environment and overrides.

    ``overrides`` (the command-line flags) beat the environment, which beats the file. With
    ``use_environment=False`` only the file and the overrides count (``vp-log config check``).
    Raises :class:`SettingsError` naming the setting, its source and what was expected.
    """
    path = config_path(config_file) if use_environment else config_file
    if path is not None and not path.is_file():
        msg = f"Configuration file {path} does not exist (from --config or {CONFIG_ENV})"
        raise SettingsError(msg)
    if use_environment:
        check_environment()
    namespace: dict[str, Any] = {}
    config = dict(Settings.model_config)
    if path is not None:
        config["toml_file"] = path
    if not use_environment:
        namespace["settings_customise_sources"] = classmethod(_file_only_sources)
    namespace["model_config"] = SettingsConfigDict(**config)  # type: ignore[typeddict-item]
    settings_cls = cast(type[Settings], type("Settings", (Settings,), namespace))
    try:
        return settings_cls(**overrides)
    except ValidationError as exc:
        flags = {name for name, value in overrides.items() if value is not None}
        raise SettingsError(_describe(exc, path, flags)) from None
    except ValueError as exc:  # TOML syntax errors and the like
        raise SettingsError(f"Configuration file {path}: {exc}") from None


def _file_only_sources(
    cls: type[BaseSettings],
    /,
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    **_others: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    return (init_settings, TomlConfigSettingsSource(settings_cls))


def file_keys(path: Path) -> set[str]:
    """The settings a TOML file sets (none if it cannot be read)."""
    try:
        return set(tomllib.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return set()


def setting_sources(
    config_file: Path | None = None, flags: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Where each setting's value comes from: ``flag``, ``environment VP_LOG_X``, ``file F``
    or ``default`` (the same order of precedence as :func:`load_settings`)."""
    path = config_path(config_file)
    in_file = file_keys(path) if path is not None else set()
    env_upper = {name.upper() for name in os.environ}
    sources = {}
    for name in Settings.model_fields:
        if flags and flags.get(name) is not None:
            sources[name] = "flag"
        elif environment_name(name) in env_upper:
            sources[name] = f"environment {environment_name(name)}"
        elif name in in_file:
            sources[name] = f"file {path}"
        else:
            sources[name] = "default"
    return sources


def _describe(exc: ValidationError, path: Path | None, flags: Collection[str] = ()) -> str:
    lines = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "(settings)"
        if name in flags:  # the option typed: its own words
            option = LISTEN_FLAGS.get(name, f"--{name.replace('_', '-')}")
            given = err["input"]
            shown = repr(given) if isinstance(given, str) else given
            lines.append(f"{option} {shown}: {plain_reason(err)}")
            continue
        where = f"{ENV_PREFIX}{name.upper()}" + (f" or '{name}' in {path}" if path else "")
        msg = plain_reason(err)
        got = f" (got {err['input']!r})" if err["type"] != "missing" and "got " not in msg else ""
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(name, sorted(Settings.model_fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            lines.append(f"Unknown setting '{name}'{' in ' + str(path) if path else ''}{hint}")
        else:
            lines.append(f"Setting '{name}' ({where}): {msg}{got}")
    return "Invalid configuration: " + "; ".join(lines)
