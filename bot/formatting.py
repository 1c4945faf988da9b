"""Pure functions that turn answers, digests and article lists into Telegram HTML messages.

Every function returns a list of message strings, each at most `MAX_MESSAGE_CHARS` long as Telegram
counts (UTF-16 code units of the text after the HTML is parsed), with every user- or article-derived
string HTML-escaped. Long content is split
between blocks (citations, digest sentences, articles) first, then at sentence boundaries, then at
spaces; a split never falls inside a tag or an entity, and every message has balanced tags, because
only plain text is split and each piece is wrapped in its block's own opening and closing tags.
A title is text too: a citation whose title line alone would not fit gets the title as a block of its
own (split like any text) before its quote, so no title, however long, makes an answer unsendable.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from bot.texts import Lang, month_year, t
from retriever.models import Answer, ArticleInfo, Citation, Digest

MAX_MESSAGE_CHARS = 4096

_SENTENCE_END = re.compile(r"(?<=[.!?…:;])\s+")
_TAGS = re.compile(r"<[^<>]*>")
_SPACE = re.compile(r"(?<=\s)")


def escape(text: str) -> str:
    """Escape text for Telegram's HTML parse mode (`<`, `>`, `&`)."""
    return html.escape(text, quote=False)


def tg_len(text: str) -> int:
    """Length as Telegram counts it: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def visible_len(fragment: str) -> int:
    """Length of well-formed Telegram HTML as Telegram counts it: tags removed, entities decoded."""
    return tg_len(html.unescape(_TAGS.sub("", fragment)))


@dataclass(frozen=True)
class Block:
    """A piece of a message: `before + escape(text) + after`, where `before` and `after` are trusted
    HTML with balanced tags. Only `text` is ever split; a piece after the first starts with
    `continued` (defaults to `before`) instead of `before`, every piece ends with `after`, and only
    the last one with `tail` (trusted HTML, balanced, e.g. the details after a title)."""

    text: str = ""
    before: str = ""
    after: str = ""
    continued: str | None = None
    gap: bool = False  # a blank line before the block, unless it starts a message
    tail: str = ""

    def render(self) -> str:
        return self.before + escape(self.text) + self.after + self.tail


def _pieces(text: str, budget: int) -> list[str]:
    """Split plain `text` into pieces of at most `budget` characters: at sentence ends, then at
    spaces, then anywhere (never inside a tag or an entity: escaping happens afterwards)."""
    if tg_len(text) <= budget:
        return [text]
    units: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        if tg_len(sentence) <= budget:
            units.append(sentence)
            continue
        for word in _SPACE.split(sentence):
            if tg_len(word) <= budget:
                units.append(word)
                continue
            chunk = ""
            for char in word:
                if chunk and tg_len(chunk + char) > budget:
                    units.append(chunk)
                    chunk = ""
                chunk += char
            if chunk:
                units.append(chunk)
    pieces: list[str] = []
    current = ""
    for unit in units:
        if not unit:
            continue
        candidate = f"{current} {unit}" if current and not current[-1].isspace() else current + unit
        if current and tg_len(candidate) > budget:
            pieces.append(current.rstrip())
            current = unit
        else:
            current = candidate
    if current.strip():
        pieces.append(current.rstrip())
    return [p for p in pieces if p]


def pack(blocks: Iterable[Block], limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Lay blocks out, one per line, into as few messages of at most `limit` characters as possible."""
    messages: list[str] = []
    current = ""
    current_len = 0

    def add(fragment: str, gap: bool) -> None:
        nonlocal current, current_len
        length = visible_len(fragment)
        separator = ("\n\n" if gap else "\n") if current else ""
        if current and current_len + len(separator) + length > limit:
            messages.append(current)
            current, current_len = fragment, length
        else:
            current, current_len = current + separator + fragment, current_len + len(separator) + length

    for block in blocks:
        rendered = block.render()
        if visible_len(rendered) <= limit:
            add(rendered, block.gap)
            continue
        continued = block.before if block.continued is None else block.continued
        overhead = (
            max(visible_len(block.before), visible_len(continued))
            + visible_len(block.after)
            + visible_len(block.tail)
        )
        if overhead >= limit:
            raise ValueError("the markup of a block alone exceeds the message limit")
        pieces = _pieces(block.text, limit - overhead)
        for number, piece in enumerate(pieces):
            opening = block.before if number == 0 else continued
            closing = block.after + (block.tail if number == len(pieces) - 1 else "")
            add(opening + escape(piece) + closing, block.gap if number == 0 else False)
    if current:
        messages.append(current)
    return messages


def _date(date: str, lang: Lang) -> str:
    return escape(month_year(date, lang)) if date else ""


def _citation_blocks(citation: Citation, lang: Lang, limit: int) -> list[Block]:
    """`[n] title · date · sentence n` and the quoted sentence: one block (never split apart) when
    the title line is short, else the title as text of its own block, then the quote."""
    details = [_date(citation.date, lang)] if citation.date else []
    details.append(t(lang, "sentence_label", n=citation.sentence_number))
    number = f"<b>[{citation.number}]</b> "
    tail = " · " + " · ".join(details)
    header = f"{number}<i>{escape(citation.title)}</i>{tail}"
    if visible_len(header) <= limit // 2:
        return [
            Block(
                text=citation.text,
                before=f"{header}\n<blockquote>",
                after="</blockquote>",
                continued="<blockquote>",
            )
        ]
    return [
        Block(text=citation.title, before=f"{number}<i>", after="</i>", continued="<i>", tail=tail),
        Block(text=citation.text, before="<blockquote>", after="</blockquote>"),
    ]


def _reader_span(answer: Answer) -> tuple[int, int] | None:
    """Where citation [1] holds the reader's answer, without surrounding whitespace; None when there
    is nothing to bold: another mode, no or a malformed span, or a slice that is not the answer (the
    answer line above the quote would then disagree with the bold)."""
    if answer.mode != "reader" or not answer.citations or not answer.answer or not answer.span:
        return None
    try:
        start, end = answer.span
    except (TypeError, ValueError):
        return None
    if type(start) is not int or type(end) is not int:  # bools and floats are not offsets
        return None
    text = answer.citations[0].text
    if not 0 <= start < end <= len(text) or text[start:end].strip() != answer.answer.strip():
        return None
    piece = text[start:end]
    start += len(piece) - len(piece.lstrip())
    end -= len(piece) - len(piece.rstrip())
    return start, end


def _bold_span(quote: Block, span: tuple[int, int], limit: int) -> Block:
    """The quote block with `quote.text[span]` in bold. The bold markup goes into `before`, so the
    block can no longer be split; a quote too long for one message stays plain, since `pack` can
    split plain text but a split inside <b> would leave unbalanced tags."""
    if visible_len(quote.render()) > limit:
        return quote
    start, end = span
    text = quote.text
    quoted = escape(text[:start]) + "<b>" + escape(text[start:end]) + "</b>" + escape(text[end:])
    return replace(quote, text="", before=quote.before + quoted)


def format_answer(answer: Answer, lang: Lang = "de", limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """The reply to a question: the answer, then its numbered citations as quoted sentences with
    article title, date and sentence number; an unsure answer says so first, an abstention says so
    plainly. A reader's answer span
    is shown in bold inside citation [1], so the short answer can be seen in its sentence."""
    if answer.answer is None or not answer.answer.strip():
        return pack([Block(before=t(lang, "abstain"))], limit)
    blocks = [Block(before=f"<i>{t(lang, 'unsure')}</i>")] if answer.unsure else []
    blocks.append(Block(text=answer.answer.strip()))
    if answer.citations:
        blocks.append(Block(before=f"<b>{t(lang, 'sources_header')}</b>", gap=True))
        span = _reader_span(answer)
        for number, citation in enumerate(answer.citations):
            cited = _citation_blocks(citation, lang, limit)
            if number == 0 and span is not None:
                cited[-1] = _bold_span(cited[-1], span, limit)  # the last block is the quote
            blocks.extend(cited)
    return pack(blocks, limit)


def format_digest(
    digest: Digest, lang: Lang = "de", header: str | None = None, limit: int = MAX_MESSAGE_CHARS
) -> list[str]:
    """A digest: optional trusted `header` HTML, the title, date and id, then the key sentences in
    article order, each with its sentence number."""
    article = digest.article
    meta = [part for part in (_date(article.date, lang),) if part]
    meta.append(f"{t(lang, 'digest_id')} <code>{escape(article.article_id)}</code>")
    blocks: list[Block] = []
    if header:
        blocks.append(Block(before=header))
    blocks.append(Block(text=article.title, before="<b>", after="</b>", gap=bool(header)))
    blocks.append(Block(before="<i>" + " · ".join(meta) + "</i>"))
    for number, sentence in enumerate(digest.sentences):
        label = t(lang, "sentence_label", n=sentence.sentence_number)
        blocks.append(Block(text=sentence.text, before="• ", after=f" <i>({label})</i>", gap=number == 0))
    return pack(blocks, limit)


def format_articles(
    articles: Sequence[ArticleInfo], lang: Lang = "de", limit: int = MAX_MESSAGE_CHARS
) -> list[str]:
    """The list of indexed articles, newest first, with ids to pass to /digest."""
    if not articles:
        return pack([Block(before=t(lang, "no_articles"))], limit)
    blocks = [Block(before=t(lang, "articles_header", count=len(articles)))]
    for number, article in enumerate(articles, start=1):
        details = [_date(article.date, lang)] if article.date else []
        details.append(t(lang, "articles_sentences", count=article.sentence_count))
        blocks.append(
            Block(
                text=article.title,
                before=f"<b>{number}.</b> ",
                continued="",
                tail=f"\n<code>{escape(article.article_id)}</code> · " + " · ".join(details),
                gap=True,
            )
        )
    blocks.append(Block(before=t(lang, "articles_footer"), gap=True))
    return pack(blocks, limit)
