"""The keyword-search terms both stores index and query, so that their BM25 scores agree.

A term longer than PostgreSQL's full-text limit (2,047 bytes per lexeme) cannot be indexed there; both
stores leave such terms out of sentences and questions alike (a 3,000-character "word" is a URL, a hash
or a paste accident, never something a reader asks about).
"""

from __future__ import annotations

from retriever.german import analyze

MAX_TERM_BYTES = 2046


def index_terms(text: str) -> list[str]:
    """The analysed terms of `text` in order (with repeats), without over-long ones."""
    return [t for t in analyze(text) if len(t) * 4 <= MAX_TERM_BYTES or len(t.encode()) <= MAX_TERM_BYTES]
