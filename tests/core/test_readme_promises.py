"""The README's security table names tests that exist (so it cannot silently drift from the suite)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_test_the_readme_names_exists() -> None:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Security: the promises") : text.index("## Command line")]
    current_file = ""
    named = 0
    for cell in re.findall(r"`([^`]+)`", section):
        path, _, name = cell.partition("::")
        if path.startswith("tests/"):
            current_file = path
        elif path.startswith("…") and current_file:
            name = name if name else path.lstrip("…:").lstrip(":")
        else:
            continue
        if not name:
            continue
        source = (ROOT / current_file).read_text()
        pattern = re.escape(name.lstrip("…")).replace(r"\*", r"\w*")
        assert re.search(rf"def \w*{pattern}", source), f"{current_file} has no test matching {name}"
        named += 1
    assert named >= 20
