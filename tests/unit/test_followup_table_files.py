"""Follow-up import tables as a person fills them in Excel: percent cells, identifiers as text,
and a template that never overwrites a filled-in table."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook, load_workbook
from typer.testing import CliRunner

from vp_log.cli import app
from vp_log.followup import tabular

runner = CliRunner()


def test_a_percent_formatted_odi_cell_reads_as_shown(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["accession_number", "date", "timepoint", "odi_percent", "pain"])
    sheet.append(["0369107519", "2024-09-01", "1m", 0.4, 3])
    sheet["D2"].number_format = "0%"  # Excel shows 40%
    path = tmp_path / "entries.xlsx"
    book.save(path)
    [(number, row)] = tabular.read_rows(path)
    assert number == 2
    assert row["odi_percent"] == 40
    assert row["pain"] == 3  # a plain number stays as it is
    assert row["accession_number"] == "0369107519"


def test_the_xlsx_template_keeps_identifiers_as_text(tmp_path: Path) -> None:
    path = tmp_path / "template.xlsx"
    tabular.write_template(path)
    sheet = load_workbook(path).worksheets[0]
    header = [c.value for c in sheet[1]]
    for column in ("accession_number", "patient_id"):
        cell = sheet.cell(row=2, column=header.index(column) + 1)
        assert cell.number_format == "@", column


def test_template_refuses_to_overwrite_a_table(tmp_path: Path) -> None:
    path = tmp_path / "paper.csv"
    path.write_text("accession_number,date,pain\n0369107519,2024-09-01,3\n", encoding="utf-8")
    result = runner.invoke(app, ["followup", "template", str(path)])
    assert result.exit_code != 0
    assert "exists" in result.output and "new file name" in result.output
    assert path.read_text(encoding="utf-8").count("\n") == 2  # nothing lost
