"""The results file (docs/benchmarks.md): each benchmark owns a marked block that it rewrites."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

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


def publish(
    section: str, report: str, results: dict[str, Any], json_path: Path | None, output: Path | None
) -> None:
    """Print the report, write the raw numbers to `json_path` and the report into its section of
    `output` (each when given)."""
    print(report)
    if json_path:
        json_path.write_text(json.dumps(results, indent=2), encoding="utf-8")
    if output:
        write_section(output, section, report)
        print(f"written to {output}", file=sys.stderr)
