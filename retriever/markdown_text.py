"""Markdown articles as plain text: the words stay, the markup goes.

A `.md` article is parsed with a real CommonMark parser (markdown-it-py, with tables and
strikethrough) and turned into blocks of plain text, one per heading, paragraph, list item or table
row, so that the sentence splitter and the citations see text as a reader sees it:

- headings, emphasis, strikethrough and inline code keep their text and lose their markers;
- links keep their text, not their URL; images (and their alt text) are dropped;
- code blocks, fenced or indented, raw HTML and horizontal rules are dropped: they are not prose;
- a YAML front matter block (`---` ... `---` at the very top) is dropped; its `title:` is kept.

Markdown nested deeper than `MAX_NESTING` levels (quotes in quotes, lists in lists) is refused with
`MarkdownTooDeep` rather than parsed: the parser would silently drop what lies deeper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

_SPACES = re.compile(r"[ \t\xa0]+")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?P<yaml>.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_YAML_TITLE = re.compile(r"^title:[ \t]*(?P<title>.+?)[ \t]*$", re.MULTILINE)
_SKIPPED_INLINE = frozenset({"image", "html_inline"})
MAX_NESTING = 64  # no real article comes close; the parser's own default (20) drops deep quotes


class MarkdownTooDeep(ValueError):
    """The document nests blocks or inline markup too deep to be read whole."""


@dataclass(frozen=True)
class MarkdownBlock:
    kind: str  # "heading", "paragraph" (also list items and quotes) or "row" (of a table)
    text: str


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": True, "maxNesting": MAX_NESTING}).enable(
        ["table", "strikethrough"]
    )


def _check_depth(tokens: list[Token]) -> None:
    deepest = max((child.level for token in tokens for child in [token, *(token.children or ())]), default=0)
    if deepest >= MAX_NESTING - 1:
        raise MarkdownTooDeep(f"Markdown nested more than {MAX_NESTING - 2} levels deep")


def inline_text(children: list[Token] | None) -> str:
    """The visible text of an inline token's children, markers and URLs removed."""
    parts: list[str] = []
    for child in children or ():
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type in _SKIPPED_INLINE:
            parts.append(" " if child.type == "image" else "")
    return _SPACES.sub(" ", "".join(parts)).strip()


def markdown_inline(text: str) -> str:
    """One line of Markdown (a title) as plain text."""
    tokens = _parser().parseInline(text)
    _check_depth(tokens)
    return inline_text(tokens[0].children if tokens else None)


def front_matter(text: str) -> tuple[str, str]:
    """(`title:` of a leading YAML front matter or "", the text without the front matter)."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return "", text
    title = _YAML_TITLE.search(match["yaml"])
    value = title["title"].strip().strip("\"'") if title else ""
    return value, text[match.end() :]


def markdown_blocks(text: str) -> list[MarkdownBlock]:
    """The blocks of plain text of a Markdown document, in order (empty blocks are left out)."""
    blocks: list[MarkdownBlock] = []
    kind = "paragraph"
    row: list[str] | None = None
    tokens = _parser().parse(text)
    _check_depth(tokens)
    for token in tokens:
        if token.type == "heading_open":
            kind = "heading"
        elif token.type == "heading_close":
            kind = "paragraph"
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            if any(row):
                blocks.append(MarkdownBlock("row", " | ".join(cell for cell in row if cell)))
            row = None
        elif token.type == "inline":
            content = inline_text(token.children)
            if row is not None:
                row.append(content)
            elif content:
                blocks.append(MarkdownBlock(kind, content))
        # fence, code_block, html_block and hr carry no inline children: they are dropped
    return blocks
