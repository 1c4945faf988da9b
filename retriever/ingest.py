"""Reading article files and splitting them into numbered sentences with character spans.

Format of a newsqa article file: first line ` date YYYY-MM Title` (leading space optional), a blank
line, then paragraphs separated by blank lines. Plain `.txt`/`.md` files without that header are
accepted too; their title is the first line when it looks like one (a Markdown heading, or a line
that does not end like a sentence), else the file name. Every title is at most `MAX_TITLE_CHARS`
characters: a longer one is cut at a word boundary and ends with "…" (`cap_title`).
`.md` files are Markdown: their markup is stripped (see retriever.markdown_text), and the sentences
and citations are those of the text a reader sees.

Every article, from a file, an upload or a web page, has at most `MAX_SENTENCES` sentences: each
one is embedded, so the cap bounds what one article costs (a news article has a few hundred at most).
A path given to `read_article` must be a regular file once links are resolved, and is read with the
byte cap enforced on what is read, not on what `stat` claims: `/dev/zero` behind a `.txt` name, a
named pipe or a socket is refused at once instead of read until memory runs out, or waited on forever.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from retriever.german import GERMAN_STOPWORDS

ARTICLE_SUFFIXES = frozenset({".txt", ".md"})
MAX_ARTICLE_BYTES = 2_000_000
MAX_TITLE_CHARS = 200
# ~10x the longest news article; embedding this many takes a few minutes on two cores.
MAX_SENTENCES = 2_000

_HEADER = re.compile(r"^\s*date\s+(?P<date>\S+)\s+(?P<title>\S.*?)\s*$")
_HEADER_START = re.compile(r"^\s*date\b", re.IGNORECASE)
_DATE = re.compile(r"^(?P<y>\d{4})-(?P<m>\d{2})(?:-(?P<d>\d{2}))?$")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")


class ArticleError(ValueError):
    """A file that cannot be indexed; the message names the file and says why."""


@dataclass(frozen=True)
class Sentence:
    number: int  # 1-based, article order
    paragraph: int  # 1-based
    start: int  # span in Article.body
    end: int
    text: str


@dataclass(frozen=True)
class Article:
    article_id: str
    title: str
    date: str
    body: str
    sentences: tuple[Sentence, ...]
    source: str


# Closing quotes and brackets that punkt leaves at the start of the next sentence
# ('Er sagte: „Wir kommen.“ Dann ...' must end after the “).
_CLOSERS = re.compile(r"[\"'“”‘’«»)\]]+")
# After a quote, a sentence that goes on ('„Ja!“, rief er.') is not a new sentence.
_CONTINUES = re.compile(r"\s*[,;:a-zäöüß]")


# Ordinals: punkt ends a sentence at "im 3." / "Weltranglisten-182." because a number followed by a
# period is both an ordinal and a sentence end. It is an ordinal when the next word goes on in lower
# case, is a month or a noun that ordinals count ("3. Quartal", "zum 2. Mal"), when a determiner
# stands before the number ("der 1. FC"), or a hyphen joins it ("Weltranglisten-182."), unless a
# function word ("Das", "Danach") opens the next sentence. Years (4 digits) always end a sentence.
_NUMBER_END = re.compile(r"(?:(?P<word>[^\W\d_]+)(?P<sep>[ \t\xa0]+|-))?(?<![\w.,])(?P<num>\d{1,3})\.\s*$")
_FIRST_WORD = re.compile(r"[\s\"'„“”‚‘’«»(]*(?P<word>\w+)(?P<dot>\.)?")
_MONTHS = frozenset(
    "januar jänner februar feber märz april mai juni juli august september oktober november dezember "
    "jan feb mär apr jun jul aug sep sept okt nov dez".split()
)
_ORDINAL_NOUNS = frozenset(
    "mal platz rang stelle quartal halbjahr jahrhundert jahrtausend jahrestag geburtstag todestag runde "
    "spieltag etappe liga klasse stock stockwerk tag woche kalenderwoche monat sitzung lauf satz "
    "durchgang bezirk auflage ausgabe amtszeit weltkrieg fc sc bundesliga".split()
)
_DETERMINERS = frozenset(
    "der die das den dem des im am zum zur vom beim ins ans aufs ein eine einem einen einer eines "
    "sein seine seinem seinen seiner seines ihr ihre ihrem ihren ihrer ihres unser unsere unserem "
    "unseren unserer dieser diese diesem diesen dieses jeder jede jedem jeden jedes".split()
)
_SENTENCE_OPENERS = frozenset(
    "danach dann damals später zuvor vorher heute gestern morgen außerdem allerdings trotzdem deshalb "
    "daher dabei zudem inzwischen bereits nun doch jedoch denn so auch erst schon nach bei in im am "
    "an auf aus mit von vor für seit bis ab wegen laut trotz".split()
)


def _is_ordinal(before: str, after: str) -> bool:
    """Does the period ending `before` (a number) belong to an ordinal that `after` continues?"""
    number = _NUMBER_END.search(before)
    first = _FIRST_WORD.match(after)
    if not number or not first:
        return False
    word = first["word"]
    if word[0].isdigit():  # "am 3. 12. 2021"
        return len(number["num"]) <= 2 and len(word) <= 2 and first["dot"] is not None
    lower = word.lower()
    if word[0].islower() or lower in _MONTHS or lower in _ORDINAL_NOUNS:
        return True
    if lower in GERMAN_STOPWORDS or lower in _SENTENCE_OPENERS:
        return False
    previous = (number["word"] or "").lower()
    return number["sep"] == "-" or previous in _DETERMINERS


@lru_cache(maxsize=1)
def _german_tokenizer():  # type: ignore[no-untyped-def]
    import punkt

    # prefixes: the curated non-breaking prefixes keep "z. B.", "ca. 120.000", "Nr. 5" whole
    tokenizer = punkt.tokenizer_for("german", prefixes=True)
    tokenizer.params.abbrev_types.update({"al", "vgl", "evtl", "inkl", "zzgl", "ggf"})
    return tokenizer


def _spans(paragraph: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for start, end in _german_tokenizer().span_tokenize(paragraph):
        closer = _CLOSERS.match(paragraph, start)
        if spans and closer:
            if _CONTINUES.match(paragraph, closer.end()):
                spans[-1] = (spans[-1][0], end)
                continue
            spans[-1] = (spans[-1][0], closer.end())
            start = closer.end()
        if spans and _is_ordinal(paragraph[spans[-1][0] : spans[-1][1]], paragraph[start:end]):
            spans[-1] = (spans[-1][0], end)
            continue
        if paragraph[start:end].strip():
            spans.append((start, end))
    return spans


def split_sentences(body: str) -> list[Sentence]:
    """Sentences of `body` with spans, so that `body[s.start:s.end] == s.text` always holds."""
    sentences: list[Sentence] = []
    paragraph_start = 0
    paragraph_no = 0
    for brk in [*_PARAGRAPH_BREAK.finditer(body), None]:
        paragraph_end = brk.start() if brk else len(body)
        paragraph = body[paragraph_start:paragraph_end]
        if paragraph.strip():
            paragraph_no += 1
            for start, end in _spans(paragraph):
                text = paragraph[start:end].strip()
                if not text:
                    continue
                offset = (
                    paragraph_start + start + (len(paragraph[start:end]) - len(paragraph[start:end].lstrip()))
                )
                sentences.append(Sentence(len(sentences) + 1, paragraph_no, offset, offset + len(text), text))
        if brk:
            paragraph_start = brk.end()
    return sentences


def check_sentence_count(sentences: list[Sentence], source: str) -> None:
    """Raise ArticleError when an article has more than MAX_SENTENCES sentences."""
    if len(sentences) > MAX_SENTENCES:
        raise ArticleError(
            f"{source}: {len(sentences):,} sentences is too many for one article (limit {MAX_SENTENCES:,})"
        )


def article_id_for(title: str, date: str, body: str) -> str:
    """Stable id from the content: the same text always gets the same id."""
    normalised = "\n".join([title.strip(), date.strip(), " ".join(body.split())])
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:12]


def _normalise_date(raw: str, source: str) -> str:
    match = _DATE.match(raw)
    if not match or not 1 <= int(match["m"]) <= 12 or (match["d"] and not 1 <= int(match["d"]) <= 31):
        raise ArticleError(f"{source}: header date {raw!r} is not YYYY-MM (e.g. 'date 2021-12 Title')")
    return raw


# A line that ends like a sentence (also before a closing quote or bracket) is text, not a title.
_SENTENCE_END = re.compile(r"[.!?:,…][\"'“”‘’«»)\]]*$")


def cap_title(title: str) -> str:
    """`title` cut to at most MAX_TITLE_CHARS characters: at the last word boundary before the limit
    (mid-word only when a single word is that long), ending with "…"."""
    title = title.strip()
    if len(title) <= MAX_TITLE_CHARS:
        return title
    cut = title[: MAX_TITLE_CHARS - 1]  # room for the "…"
    if not title[len(cut)].isspace():  # the cut falls inside a word: go back to its start
        boundary = max(cut.rfind(" "), cut.rfind("\t"), cut.rfind("\xa0"))
        if boundary >= MAX_TITLE_CHARS // 2:
            cut = cut[:boundary]
    return cut.rstrip(" \t\xa0,;:–—-") + "…"


def _plain_title(first_line: str) -> str | None:
    title = first_line.strip().lstrip("#").strip()
    if title and not _SENTENCE_END.search(title):
        return title
    return None


def _file_name_title(source: str) -> str:
    return Path(source).stem.replace("_", " ").replace("-", " ").strip() or source


def _markdown_title_and_body(text: str) -> tuple[str | None, str]:
    """Title (front matter `title:`, a first heading, or a first line that looks like a title) and
    plain-text body of a Markdown article without a `date` header."""
    from retriever.markdown_text import front_matter, markdown_blocks, markdown_inline

    title, text = front_matter(text)
    blocks = markdown_blocks(text)
    if title:
        return markdown_inline(title), "\n\n".join(block.text for block in blocks)
    lines = text.strip("\n").split("\n")
    if len(blocks) > 1 and (
        blocks[0].kind == "heading"
        or (
            blocks[0].kind == "paragraph"
            and (len(lines) == 1 or not lines[1].strip())
            and _plain_title(blocks[0].text) is not None
        )
    ):
        return blocks[0].text, "\n\n".join(block.text for block in blocks[1:])
    return None, "\n\n".join(block.text for block in blocks)


def parse_article(text: str, source: str) -> Article:
    """Parse an article's text (Markdown when `source` ends in .md). Raises `ArticleError` naming
    `source` when it is empty or malformed."""
    from retriever.markdown_text import MarkdownTooDeep

    try:
        return _parse_article(text, source)
    except MarkdownTooDeep as exc:
        raise ArticleError(f"{source}: {exc}") from None


def _parse_article(text: str, source: str) -> Article:
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    if "\x00" in text:
        raise ArticleError(f"{source}: looks like a binary file, not an article")
    if not text.strip():
        raise ArticleError(f"{source}: the file is empty")
    markdown = Path(source).suffix.lower() == ".md"
    lines = text.strip("\n").split("\n")
    first = lines[0]
    date = ""
    title: str | None
    if _HEADER_START.match(first):
        header = _HEADER.match(first)
        if not header:
            raise ArticleError(f"{source}: header must be 'date YYYY-MM Title', got {first.strip()[:80]!r}")
        date = _normalise_date(header["date"], source)
        title = header["title"]
        body = "\n".join(lines[1:])
        if markdown:
            from retriever.markdown_text import markdown_blocks, markdown_inline

            title = markdown_inline(title)
            body = "\n\n".join(block.text for block in markdown_blocks(body))
    elif markdown:
        title, body = _markdown_title_and_body(text)
    elif (plain := _plain_title(first)) is not None and len(lines) > 1:
        title, body = plain, "\n".join(lines[1:])
    else:
        title, body = None, "\n".join(lines)
    title = cap_title(title or _file_name_title(source))
    body = body.strip()
    if not body:
        raise ArticleError(f"{source}: no article text after the title line")
    sentences = split_sentences(body)
    if not sentences:
        raise ArticleError(f"{source}: no sentences found")
    check_sentence_count(sentences, source)
    return Article(article_id_for(title, date, body), title, date, body, tuple(sentences), source)


_NOT_REGULAR = (
    (stat.S_ISDIR, "is a directory"),
    (stat.S_ISFIFO, "is a named pipe (FIFO), not a file"),
    (stat.S_ISCHR, "is a character device, not a file"),
    (stat.S_ISBLK, "is a block device, not a file"),
    (stat.S_ISSOCK, "is a socket, not a file"),
)


def _not_regular(mode: int) -> str:
    """Why a file of this mode cannot be an article ("" for a regular file)."""
    if stat.S_ISREG(mode):
        return ""
    return next((why for test, why in _NOT_REGULAR if test(mode)), "is not a regular file")


def read_bytes_capped(path: Path, limit: int = MAX_ARTICLE_BYTES) -> bytes:
    """The bytes of the regular file at `path` (links resolved), at most `limit` of them; raises
    ArticleError naming the file otherwise. The type is checked with `stat` before opening (opening a
    named pipe waits for a writer), the file is opened non-blocking and checked again (it may have
    been swapped meanwhile), and the cap holds for what is read, whatever the size claims."""
    try:
        why = _not_regular(os.stat(path).st_mode)
        if why:
            raise ArticleError(f"{path}: {why}")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ArticleError(f"{path}: no such file") from None
    except OSError as exc:
        raise ArticleError(f"{path}: cannot read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        try:
            info = os.fstat(handle.fileno())
            why = _not_regular(info.st_mode)
            if why:
                raise ArticleError(f"{path}: {why}")
            if info.st_size > limit:
                raise ArticleError(
                    f"{path}: {info.st_size:,} bytes is too large for one article (limit {limit:,})"
                )
            raw = handle.read(limit + 1)
        except OSError as exc:
            raise ArticleError(f"{path}: cannot read ({exc.strerror})") from None
    if len(raw) > limit:
        raise ArticleError(
            f"{path}: more than {limit:,} bytes is too large for one article (limit {limit:,})"
        )
    return raw


def read_article(path: Path) -> Article:
    """Read and parse one article file; every failure is an `ArticleError` naming the file."""
    if path.suffix.lower() not in ARTICLE_SUFFIXES:
        raise ArticleError(f"{path}: unsupported file type {path.suffix or '(none)'!r}; use .txt or .md")
    raw = read_bytes_capped(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ArticleError(f"{path}: not UTF-8 text") from None
    return parse_article(text, str(path))


def find_article_files(paths: list[Path]) -> list[Path]:
    """Expand folders to the .txt/.md files below them (sorted); files are kept as given."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in ARTICLE_SUFFIXES)
            )
        else:
            found.append(path)
    return found
