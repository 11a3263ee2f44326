"""BENCHMARKS.md is shared: each benchmark rewrites only its own section, between markers."""

from __future__ import annotations

from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def write_section(name: str, heading: str, text: str, path: Path = BENCHMARKS) -> None:
    """Replace the section `name` (between `<!-- name:start -->` and `<!-- name:end -->`),
    or append it under `heading` the first time."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    body = path.read_text() if path.exists() else "# Benchmarks\n"
    section = f"{start}\n{text.rstrip()}\n{end}"
    if start in body and end in body:
        head, rest = body.split(start, 1)
        _, tail = rest.split(end, 1)
        body = head + section + tail
    else:
        body = body.rstrip() + f"\n\n## {heading}\n\n" + section + "\n"
    path.write_text(body)
