#!/usr/bin/env bash
# Regenerate the transition table in docs/architecture.md from the declarations in the code.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python - <<'PY'
from pathlib import Path

import governance.app  # noqa: F401
from governance.core.transitions import table_markdown

doc = Path("docs/architecture.md")
text = doc.read_text()
begin, end = "<!-- transitions:begin -->\n", "<!-- transitions:end -->"
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
doc.write_text(head + begin + table_markdown().strip() + "\n" + end + tail)
PY
