"""The article in a web page: main text, title and date, with trafilatura (htmldate behind it).

trafilatura drops navigation, footers, comments and boilerplate and returns the main text with one
paragraph per line; its metadata gives the title (og:title, <h1>, <title>) and the publication date
(htmldate: meta tags, <time>, JSON-LD, the URL). Nothing here touches the network.

The result becomes a newsqa `Article` with the URL as its source, split into numbered sentences by
the same splitter as uploaded files, so cited sentences stay verbatim sentences of the page's text,
and capped like them (`ingest.MAX_SENTENCES`). The page comes in as text, decoded by
`retriever.web.charset` with the charset it declares: given bytes, trafilatura would guess.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from retriever.ingest import (
    MAX_TITLE_CHARS,
    Article,
    ArticleError,
    article_id_for,
    check_sentence_count,
    split_sentences,
)
from retriever.web.fetch import FetchError

logger = logging.getLogger(__name__)

# Less than this is a teaser, a paywall stub or an index page, not an article.
MIN_TEXT_CHARS = 200
MIN_SENTENCES = 2
_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")


class NoArticleError(FetchError):
    """The page was fetched but holds no article text (an index page, a video, a paywall stub)."""


@dataclass(frozen=True)
class ExtractedPage:
    title: str
    date: str  # YYYY-MM-DD, or "" when the page names none
    text: str  # paragraphs separated by blank lines


class TooLongError(NoArticleError):
    """The page's text has more sentences than one article may have."""


def _quiet_extractor_logs() -> None:
    """trafilatura and its helpers log what they find wrong with a page as errors ("lxml parsing
    failed: Document is empty"): on the terminal of `newsqa index` those read like newsqa's own
    errors, beside the one line newsqa prints about the page (NoArticleError says what matters)."""
    for name in ("trafilatura", "htmldate", "courlan"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def extract_page(
    html: bytes | str, url: str, fallback_title: str = "", fallback_date: str = ""
) -> ExtractedPage:
    """Main text, title and date of a page (text, or bytes trafilatura decodes by guessing).
    Raises NoArticleError when there is no article text."""
    import trafilatura  # heavy (lxml, dateparser): only when a page is extracted

    _quiet_extractor_logs()

    try:
        doc = trafilatura.bare_extraction(
            html,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            include_images=False,
            deduplicate=True,
        )
    except Exception as exc:  # lxml and friends raise all sorts on broken markup
        logger.info("extraction of %s failed: %r", url, exc)
        doc = None
    text = (getattr(doc, "text", None) or "").strip() if doc is not None else ""
    title = " ".join((getattr(doc, "title", None) or fallback_title or "").split())
    lines = [" ".join(line.split()) for line in text.splitlines()]
    lines = [line for line in lines if line]
    if lines and title and lines[0].casefold() == title.casefold():
        lines = lines[1:]  # the <h1> repeated as the first paragraph
    body = "\n\n".join(lines)
    if len(body) < MIN_TEXT_CHARS:
        raise NoArticleError(f"{url}: the page holds no article text (found {len(body)} characters)")
    date = str(getattr(doc, "date", None) or fallback_date or "")
    if not _DATE.match(date):
        date = ""
    if not title:
        title = lines[0][:MAX_TITLE_CHARS]
    if len(title) > MAX_TITLE_CHARS:
        title = title[: MAX_TITLE_CHARS - 1].rstrip() + "…"
    return ExtractedPage(title=title, date=date, text=body)


def page_article(page: ExtractedPage, source: str) -> Article:
    """The extracted page as a newsqa article (id from its content, like every article)."""
    sentences = split_sentences(page.text)
    if len(sentences) < MIN_SENTENCES:
        raise NoArticleError(f"{source}: the page holds no article text ({len(sentences)} sentence)")
    try:
        check_sentence_count(sentences, source)
    except ArticleError as exc:  # a FetchError here, like every other reason a link gives no article
        raise TooLongError(str(exc)) from None
    return Article(
        article_id=article_id_for(page.title, page.date, page.text),
        title=page.title,
        date=page.date,
        body=page.text,
        sentences=tuple(sentences),
        source=source,
    )
