"""docs/architecture.md shows the transition table as built: regenerate it with `governance transitions`."""

from __future__ import annotations

from pathlib import Path

import governance.app  # noqa: F401 - declares every lifecycle
from governance.core.transitions import table_markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def test_architecture_doc_shows_the_declared_transitions() -> None:
    text = DOC.read_text()
    begin, end = "<!-- transitions:begin -->\n", "<!-- transitions:end -->"
    shown = text[text.index(begin) + len(begin) : text.index(end)]
    assert shown.strip() == table_markdown().strip(), (
        "docs/architecture.md is out of date: run scripts/update-architecture-doc.sh"
    )
