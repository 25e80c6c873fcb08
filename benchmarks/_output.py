"""What every benchmark does with its table: print it, and write it where asked."""

from __future__ import annotations

from pathlib import Path


def emit(text: str, markdown: Path | None) -> None:
    """Print ``text`` and, when ``markdown`` is given, write it there (folders made)."""
    print(text)
    if markdown:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(text + "\n")
