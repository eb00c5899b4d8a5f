"""Adding measured rows to docs/benchmarks.md: each table is found by its title and grows at its end."""

from __future__ import annotations

import fcntl
from pathlib import Path

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def append_row(title: str, preamble: str, columns: list[str], row: str) -> None:
    """Append `row` to the table under `### title`, creating that section (with `preamble`) if needed.
    A file lock lets two benchmarks running side by side both land their rows."""
    with open(BENCHMARKS_MD, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        lines = f.read().rstrip("\n").split("\n")
        heading = f"### {title}"
        if heading not in lines:
            lines += ["", heading, "", preamble, "", "| " + " | ".join(columns) + " |",
                      "|" + "---|" * len(columns)]
            end = len(lines)
        else:
            end = lines.index(heading) + 1
            while end < len(lines) and not lines[end].startswith("|"):
                end += 1
            while end < len(lines) and lines[end].startswith("|"):
                end += 1
        lines.insert(end, row)
        f.seek(0)
        f.write("\n".join(lines) + "\n")
        f.truncate()
