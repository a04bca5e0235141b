"""What the console prints: whole numbers whole, --help descriptions whole, Korean overrides as
the form to copy."""

from __future__ import annotations

import pytest

from runner import commands, console, errors
from runner.tracking import sync


@pytest.mark.parametrize(
    ("value", "shown"), [(38400.0, "38400"), (12345.678, "12346"), (0.48312, "0.4831"), (3.0, "3"), (7, "7")]
)
def test_numbers_print_without_exponents(value, shown):
    assert console.number(value) == shown


def test_help_descriptions_are_whole_sentences():
    for doc in (commands.COMPARE_DOC, sync.__doc__):
        text = console.first_paragraph(doc)
        assert text.endswith(".") and "\n" not in text and len(text) > 60


def test_a_bare_korean_value_gets_the_quoted_form_to_copy():
    from hydra.errors import OverrideParseException

    line = errors.describe(OverrideParseException("dataset.text_column=문장", "LexerNoViableAltException"))
    assert line.startswith("dataset.text_column: ") and "'dataset.text_column=\"문장\"'" in line
    assert errors.exit_code(OverrideParseException("x=문장", "")) == 2
