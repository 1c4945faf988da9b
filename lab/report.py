"""The results file (docs/benchmarks.md): each benchmark owns a marked block that it rewrites."""

from __future__ import annotations

import re
from pathlib import Path

MARK = "<!-- bench:{name}:{edge} -->"


def write_section(path: Path, name: str, body: str) -> None:
    """Replace this benchmark's block in the results file (or append it), leaving the rest alone."""
    start, end = MARK.format(name=name, edge="start"), MARK.format(name=name, edge="end")
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{body}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    text = (
        pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# ---- the default article: cold start and warm latency ---------------------------------------
