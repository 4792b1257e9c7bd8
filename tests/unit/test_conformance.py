"""docs/conformance.md is what the listener really does (written from its own contexts)."""

from __future__ import annotations

from conftest import REPO
from vp_log.config import Settings
from vp_log.conformance import STATUS_MEANINGS, render_conformance, status_constants
from vp_log.listener import make_ae

DOC = REPO / "docs" / "conformance.md"


def test_the_statement_is_the_one_the_code_writes() -> None:
    assert DOC.read_text(encoding="utf-8") == render_conformance(), (
        "docs/conformance.md differs from the listener: "
        "python -m vp_log.conformance > docs/conformance.md"
    )


def test_every_context_of_the_listener_is_in_the_statement() -> None:
    text = DOC.read_text(encoding="utf-8")
    ae = make_ae(Settings.model_construct())
    assert len(ae.supported_contexts) >= 17
    for context in ae.supported_contexts:
        assert f"| {context.abstract_syntax} |" in text
        for syntax in context.transfer_syntax:
            assert f"| {syntax} |" in text


def test_every_status_the_handler_answers_is_explained() -> None:
    assert set(status_constants().values()) <= set(STATUS_MEANINGS)
    text = DOC.read_text(encoding="utf-8")
    for value in status_constants().values():
        assert f"| {value:04X} |" in text


def test_ps3_2_sections_are_there() -> None:
    text = DOC.read_text(encoding="utf-8")
    for heading in (
        "Conformance Statement Overview",
        "Implementation Model",
        "AE Specifications",
        "Association Policies",
        "Association Acceptance Policy",
        "Accepted Presentation Contexts",
        "SOP Specific Conformance",
        "Network Interfaces",
        "Configuration",
        "Support of Character Sets",
        "Security",
    ):
        assert heading in text, heading


def test_the_statement_for_a_site_shows_its_values(tmp_path: object) -> None:
    site = Settings(
        ae_title="SITEVP", port=104, allowed_calling_aets=["PACS_MAIN"], data_dir=tmp_path
    )  # type: ignore[arg-type]
    text = render_conformance(site)
    assert "**SITEVP**" in text and "TCP port 104" in text and "PACS_MAIN" in text
