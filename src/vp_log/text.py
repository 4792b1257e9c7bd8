"""Text from files and users made safe to print: control characters shown, never obeyed.

A Study Instance UID with a newline must not write a forged log line, and an escape
sequence in a patient name must not recolour (or rewrite) the terminal that shows it.
:func:`printable` is used for every log line (:class:`SafeFormatter`) and every table cell
that shows such text.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Mapping
from typing import Any, TextIO

# C0 controls (tab included: it shifts columns), and (_FORMAT) DEL, the C1 controls and the
# Unicode format characters that reorder or hide text (bidi overrides and isolates,
# zero-width marks, line and paragraph separators).
_FORMAT = "\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\ufeff"
_CONTROL = re.compile(f"[\x00-\x1f{_FORMAT}]")
_CONTROL_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f{_FORMAT}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object, *, keep_newlines: bool = False) -> str:
    """``value`` as text with control characters escaped (``\\n``, ``\\e``, ``\\x07``, ...).

    ``keep_newlines`` leaves line feeds as they are: for a whole screen of output whose line
    breaks are the program's own (user text in it has been through ``printable`` already).
    """
    text = value if isinstance(value, str) else str(value)
    return (_CONTROL_BUT_NEWLINE if keep_newlines else _CONTROL).sub(_escape, text)


_JSON_HIDDEN = re.compile(f"[{_FORMAT}]")


def json_visible(document: str) -> str:
    """A JSON document (``json.dumps(..., ensure_ascii=False)``) with DEL, the C1 controls and
    the bidi and zero-width characters written as ``\\uXXXX``: the same values once parsed,
    but none of them left raw for a terminal to obey (json escapes only C0 itself)."""
    if document.isascii() and "\x7f" not in document:
        return document  # nothing to hide (a listing's items mostly): no scan of each character
    return _JSON_HIDDEN.sub(lambda m: f"\\u{ord(m.group()):04x}", document)


class SafeFormatter(logging.Formatter):
    """A formatter whose message part is :func:`printable`: one record, one log line.

    A traceback appended by ``logger.exception`` keeps its line breaks, each of its lines
    indented by ``  | `` so that no text inside it (an exception message quoting a file's
    value) can start a line that looks like a record of its own.
    """

    def formatException(self, ei: object) -> str:  # noqa: N802  (logging's name)
        text = super().formatException(ei)  # type: ignore[arg-type]
        return "\n".join("  | " + printable(line) for line in text.splitlines())

    def formatStack(self, stack_info: str) -> str:  # noqa: N802  (logging's name)
        return "\n".join("  | " + printable(line) for line in stack_info.splitlines())

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802  (logging's name)
        record.message = printable(record.message)
        return super().formatMessage(record)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str | int, stream: TextIO | None = None) -> None:
    """``logging.basicConfig`` with :class:`SafeFormatter` on the root handlers."""
    logging.basicConfig(level=level, format=LOG_FORMAT, stream=stream)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(SafeFormatter(LOG_FORMAT))
    # pydicom's warn_and_log logs each problem (one line, escaped above) and also raises it
    # as a Python warning, which the warnings module prints again on stderr in two lines,
    # unescaped: a fuzzed file made the listener log three lines per odd value.
    warnings.filterwarnings("ignore", category=UserWarning, module="pydicom")


#: pydantic's reasons ("Input should be ...") in the user's words, by error type; ``{name}`` is
#: filled from the error's context.
_REASONS = {
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be more than {gt}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
    "int_parsing": "not a whole number",
    "int_from_float": "not a whole number",
    "int_type": "not a whole number",
    "float_parsing": "not a number",
    "float_type": "not a number",
    "finite_number": "not a finite number",
    "bool_parsing": "not yes or no (true, false, yes, no, on, off, 1, 0)",
    "bool_type": "not yes or no (true, false, yes, no, on, off, 1, 0)",
    "string_type": "not text",
    "string_too_short": "too short (at least {min_length} characters)",
    "string_too_long": "too long (at most {max_length} characters)",
    "too_short": "too few (at least {min_length})",
    "too_long": "too many (at most {max_length})",
    "list_type": "not a list",
    "dict_type": "not a table of settings",
    "enum": "not one of {expected}",
    "literal_error": "not one of {expected}",
    "date_from_datetime_parsing": "not a date as YYYY-MM-DD",
    "date_parsing": "not a date as YYYY-MM-DD",
    "date_type": "not a date as YYYY-MM-DD",
    "missing": "missing",
    "url_parsing": "not a URL",
    "url_scheme": "a URL of another kind is needed ({expected_schemes})",
}


def plain_reason(error: Mapping[str, Any]) -> str:
    """Why a value was refused, from one of pydantic's ``ValidationError.errors()``, in the
    user's words: our own validators' messages as they are, pydantic's own ("Input should be
    less than or equal to 65535") translated ("must be at most 65535")."""
    message = str(error.get("msg", ""))
    if message.startswith("Value error, "):
        return message.removeprefix("Value error, ")
    template = _REASONS.get(str(error.get("type")))
    context = error.get("ctx")
    if template is None:
        return message
    try:
        return template.format_map(context if isinstance(context, dict) else {})
    except KeyError:
        return message
