"""Report thresholds and dose reference levels, read from TOML (``config/report.toml``)."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vp_log.report.cohort import ReportError


class Responders(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pain_drop_points: float = Field(2.0, gt=0)
    pain_drop_percent: float = Field(30.0, gt=0, le=100)
    odi_drop_points: float = Field(10.0, gt=0)
    rmdq_drop_points: float = Field(5.0, gt=0)
    pain_below: float = Field(4.0, gt=0, le=10)


class ReferenceLevels(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    fluoro_time_s: float | None = Field(None, gt=0)
    dap_gy_cm2: float | None = Field(None, gt=0)
    ka_r_mgy: float | None = Field(None, gt=0)


class ReportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    primary_timepoint: str = "1m"
    responders: Responders = Field(default_factory=Responders)
    complication_thresholds: dict[str, float] = Field(default_factory=dict)
    """Key (any, minor, major or a complication type) → highest acceptable rate in %."""
    reference_levels: dict[str, ReferenceLevels] = Field(default_factory=dict)
    """Procedure type → its reference levels."""


def load_report_settings(path: Path | None = None) -> ReportSettings:
    """The settings in ``path`` or the built-in ones; a bad file is refused naming the key."""
    where = str(path) if path else "the built-in report settings"
    try:
        if path is None:
            text = (
                resources.files("vp_log")
                .joinpath("defaults", "report.toml")
                .read_text(encoding="utf-8")
            )
        else:
            text = path.read_text(encoding="utf-8")
        return ReportSettings.model_validate(tomllib.loads(text))
    except OSError as exc:
        msg = f"report settings {where} cannot be read: {exc.strerror or exc}"
        raise ReportError(msg) from None
    except tomllib.TOMLDecodeError as exc:
        msg = f"report settings {where} are not valid TOML: {exc}"
        raise ReportError(msg) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
        )
        msg = f"report settings {where} refused: {problems}"
        raise ReportError(msg) from None
