"""``--plots DIR`` writes every figure as PNG and SVG; with ``--html`` in the same command the
page embeds the same figures (each drawn once), and ``--html`` alone draws no SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from cohort_support import build_cohort
from conftest import base_env
from vp_log.cli import app

FIGURES = 8  # pain and ODI over time, cement, Kaplan-Meier, three dose, completeness


def test_plots_and_page_from_one_command(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    build_cohort(data_dir, range(1))
    page, plots = tmp_path / "all.html", tmp_path / "plots"
    result = CliRunner().invoke(
        app,
        ["report", "all", "--html", str(page), "--plots", str(plots), "--as-of", "2025-06-01"],
        env=base_env(data_dir),
    )
    assert result.exit_code == 0, result.output
    pngs, svgs = sorted(plots.glob("*.png")), sorted(plots.glob("*.svg"))
    assert len(pngs) == len(svgs) == FIGURES
    assert [p.stem for p in pngs] == [s.stem for s in svgs]
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for svg in svgs:
        assert ET.parse(svg).getroot().tag.endswith("svg")
    assert page.read_text(encoding="utf-8").count('src="data:image/png;base64,') == FIGURES

    alone = CliRunner().invoke(
        app, ["report", "all", "--html", str(tmp_path / "alone.html")], env=base_env(data_dir)
    )
    assert alone.exit_code == 0, alone.output
    assert (tmp_path / "alone.html").read_text(encoding="utf-8").count("data:image/png") == FIGURES
