"""Print the fenced code block that follows ``<!-- ci:NAME -->`` in README.md.

.ci/run runs the README's own commands, read from the README, so CI can never run a step the
README does not show. A missing or empty block is an error naming the marker.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def block(name: str, text: str) -> str:
    marker = f"<!-- ci:{name} -->"
    pattern = re.escape(marker) + r"\s*\n```[a-z]*\n(.*?)\n```"
    found = re.search(pattern, text, flags=re.S)
    if found is None or not found.group(1).strip():
        raise SystemExit(f"README.md: no fenced code block after {marker}")
    return found.group(1)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: readme_block.py NAME")
    print(block(sys.argv[1], README.read_text(encoding="utf-8")))
