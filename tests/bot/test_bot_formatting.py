"""Unit tests of the HTML formatter: escaping, splitting at sentence/citation boundaries, limits."""

from __future__ import annotations

from typing import Any

import pytest
from fake_telegram import parse_telegram_html, utf16_len

from bot.formatting import MAX_MESSAGE_CHARS, Block, format_answer, format_articles, format_digest, pack
from bot.texts import month_year, t
from retriever.models import Answer, ArticleInfo, Citation, Digest

HOSTILE = "<b>x</b><script>alert('&amp;')</script> & <i"


def citation(number: int, text: str, title: str = "Biden & Putin <live>", date: str = "2021-12") -> Citation:
    return Citation(number, "693e6b00da0f", title, date, number + 2, text)


def assert_valid(messages: list[str], limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Every message parses as Telegram HTML and fits; returns the visible texts."""
    assert messages
    visible = [parse_telegram_html(m) for m in messages]
    assert all(0 < utf16_len(v) <= limit for v in visible), [utf16_len(v) for v in visible]
    return visible


def test_answer_is_escaped_and_cited() -> None:
    answer = Answer(
        "q", f"Antwort {HOSTILE}", 0.9, (citation(1, f"Satz {HOSTILE}."), citation(2, "Zweiter Satz."))
    )
    messages = format_answer(answer, "de")
    assert len(messages) == 1
    (visible,) = assert_valid(messages)
    assert "<script>" not in messages[0] and "&lt;script&gt;" in messages[0]
    assert f"Antwort {HOSTILE}" in visible  # shown literally
    assert "[1] Biden & Putin <live> · Dezember 2021 · Satz 3" in visible
    assert "[2]" in visible and "Zweiter Satz." in visible
    assert "<blockquote>Satz " in messages[0]
    assert visible.index("Belege") < visible.index("[1]") < visible.index("[2]")


def test_abstention_in_both_languages() -> None:
    abstained = Answer("q", None, 0.0)
    assert format_answer(abstained, "de") == [t("de", "abstain")]
    assert format_answer(abstained, "en")[0].startswith("I can't find anything")
    assert_valid(format_answer(abstained, "en"))


def test_english_labels_and_dates() -> None:
    messages = format_answer(Answer("q", "A", 1.0, (citation(1, "S."),)), "en")
    assert "Evidence" in messages[0] and "December 2021" in messages[0] and "sentence 3" in messages[0]
    assert month_year("2021-12", "de") == "Dezember 2021"
    assert month_year("", "de") == "" and month_year("2021", "en") == "2021"


def test_long_answer_splits_between_citations_first() -> None:
    sentence = "Ein Satz über Putin & Biden, der recht lang ist und sich wiederholt. " * 20
    cites = tuple(citation(n, sentence.strip()) for n in range(1, 9))
    messages = format_answer(Answer("q", "Kurz.", 1.0, cites), "de")
    visible = assert_valid(messages)
    assert len(messages) > 1
    # no citation was cut: each one's header and quote are in the same message
    for number in range(1, 9):
        holder = [v for v in visible if f"[{number}] " in v]
        assert len(holder) == 1 and sentence.strip() in holder[0]
    assert messages[0].startswith("Kurz.")


@pytest.mark.parametrize("limit", [MAX_MESSAGE_CHARS, 300, 120])
def test_oversized_block_splits_at_sentences_never_inside_tags_or_entities(limit: int) -> None:
    text = " ".join(f"Satz {n} mit <Tag> & Entität “{n}”." for n in range(400))
    messages = format_answer(Answer("q", "A.", 1.0, (citation(1, text),)), "de", limit=limit)
    visible = assert_valid(messages, limit)
    assert len(messages) > 1
    joined = " ".join(v.replace("\n", " ") for v in visible)
    for n in (0, 150, 399):  # every sentence survives whole
        assert f"Satz {n} mit <Tag> & Entität “{n}”." in joined
    for message in messages[1:]:
        if "<blockquote>" in message:
            assert message.count("<blockquote>") == message.count("</blockquote>")


def test_word_longer_than_a_message_is_cut_but_valid() -> None:
    word = "&" * 5000 + "🙂" * 3000  # escapes to 5 chars each; emoji count twice in UTF-16
    messages = pack([Block(text=word, before="<b>", after="</b>")])
    visible = assert_valid(messages)
    assert "".join(visible) == word


def test_utf16_counting() -> None:
    messages = pack([Block(text="🙂" * 2100)])
    assert len(messages) == 2
    assert_valid(messages)


def test_digest_format_and_split() -> None:
    article = ArticleInfo(
        "693e6b00da0f", "Titel <mit> & Zeichen", "2021-12", 14, "x.txt", "2024-01-01T00:00:00+00:00"
    )
    digest = Digest(article, tuple(citation(n, f"Kernsatz {n} & mehr.") for n in range(1, 5)))
    (message,) = format_digest(digest, "de", header=t("de", "digest_new_header"))
    visible = parse_telegram_html(message)
    assert visible.startswith("📰 Neuer Artikel\n\nTitel <mit> & Zeichen\nDezember 2021 · ID 693e6b00da0f")
    assert "• Kernsatz 1 & mehr. (Satz 3)" in visible
    big = Digest(article, tuple(citation(n, "Lang. " * 300) for n in range(1, 6)))
    assert len(assert_valid(format_digest(big, "en"))) > 1


def test_article_list() -> None:
    articles = [
        ArticleInfo(
            f"id{n:04d}", f"Artikel <{n}> & so", "2024-05" if n % 2 else "", 10, "x", "2024-01-01T00:00:00"
        )
        for n in range(200)
    ]
    messages = format_articles(articles, "de")
    visible = assert_valid(messages)
    assert len(messages) > 1
    assert visible[0].startswith("Indexierte Artikel (200)")
    joined = "\n".join(visible)
    assert "1. Artikel <0> & so\nid0000 · 10 Sätze" in joined
    assert "2. Artikel <1> & so\nid0001 · Mai 2024 · 10 Sätze" in joined
    assert joined.rstrip().endswith("/digest ID")
    assert format_articles([], "en") == ["No articles have been indexed yet."]


HUGE_TITLE = " ".join(f"Titelwort{n} <&>" for n in range(400))  # ~6,000 characters, escapes grow it


@pytest.mark.parametrize("limit", [MAX_MESSAGE_CHARS, 500])
def test_a_title_longer_than_a_message_is_split_not_fatal(limit: int) -> None:
    # titles are capped at ingest, but an index built before the cap may hold longer ones
    answer = Answer("q", "Die Antwort.", 1.0, (citation(1, "Kurz.", title=HUGE_TITLE), citation(2, "Zwei.")))
    visible = assert_valid(format_answer(answer, "de", limit=limit), limit)
    joined = "".join(visible)
    assert "[1] " + HUGE_TITLE[:40] in joined and "Titelwort399 <&> · Dezember 2021 · Satz 3" in joined
    assert joined.replace("\n", " ").count("Titelwort") >= 400  # every word of the title is shown
    assert "Kurz." in joined and "[2] Biden & Putin <live> · Dezember 2021 · Satz 4" in joined

    article = ArticleInfo("693e6b00da0f", HUGE_TITLE, "2021-12", 3, "x.txt", "2024-01-01T00:00:00+00:00")
    digest = Digest(article, (citation(1, "Kernsatz."),))
    visible = assert_valid(
        format_digest(digest, "de", header=t("de", "digest_new_header"), limit=limit), limit
    )
    assert visible[0].startswith("📰 Neuer Artikel") and "Kernsatz. (Satz 3)" in visible[-1]
    visible = assert_valid(format_articles([article], "de", limit=limit), limit)
    assert "693e6b00da0f · Dezember 2021 · 3 Sätze" in "".join(visible)
    assert "".join(visible).count("693e6b00da0f") == 1  # the details follow the title once, at its end


def test_short_titles_keep_header_and_quote_in_one_block() -> None:
    (message,) = format_answer(Answer("q", "A.", 1.0, (citation(1, "Satz."),)), "de")
    assert (
        "<b>[1]</b> <i>Biden &amp; Putin &lt;live&gt;</i> · Dezember 2021 · Satz 3\n<blockquote>Satz."
        in message
    )


SENTENCE = "Der Kanzler heißt Olaf Scholz."


def reader(
    text: str, span: Any, answer: str | None = None, mode: Any = "reader", title: str = "Biden & Putin <live>"
) -> Answer:
    """A reader answer whose first citation is `text`; the answer defaults to the span's slice."""
    if answer is None:
        answer = text[span[0] : span[1]]
    cites = (citation(1, text, title=title), citation(2, "Zweiter Satz."))
    return Answer("q", answer, 0.9, cites, mode=mode, span=span)


def quote_of_first(message: str) -> str:
    start = message.index("<blockquote>") + len("<blockquote>")
    return message[start : message.index("</blockquote>", start)]


def test_reader_span_is_bold_in_its_quote() -> None:
    (message,) = format_answer(reader(SENTENCE, (18, 29)), "de")
    assert_valid([message])
    assert message == (
        "Olaf Scholz\n\n<b>Belege</b>\n"
        "<b>[1]</b> <i>Biden &amp; Putin &lt;live&gt;</i> · Dezember 2021 · Satz 3\n"
        "<blockquote>Der Kanzler heißt <b>Olaf Scholz</b>.</blockquote>\n"
        "<b>[2]</b> <i>Biden &amp; Putin &lt;live&gt;</i> · Dezember 2021 · Satz 4\n"
        "<blockquote>Zweiter Satz.</blockquote>"
    )


def test_reader_span_and_sentence_are_escaped() -> None:
    text = f"Vorher {HOSTILE} & <b>danach</b>."
    start = text.index(HOSTILE)
    (message,) = format_answer(reader(text, (start, start + len(HOSTILE))), "de")
    (visible,) = assert_valid([message])
    assert quote_of_first(message) == (
        "Vorher <b>&lt;b&gt;x&lt;/b&gt;&lt;script&gt;alert('&amp;amp;')&lt;/script&gt; &amp; &lt;i</b>"
        " &amp; &lt;b&gt;danach&lt;/b&gt;."
    )
    assert text in visible and visible.startswith(HOSTILE)


@pytest.mark.parametrize(
    ("span", "quote"),
    [
        ((0, 11), "<b>Der Kanzler</b> heißt Olaf Scholz."),
        ((18, 30), "Der Kanzler heißt <b>Olaf Scholz.</b>"),
        ((0, 30), "<b>Der Kanzler heißt Olaf Scholz.</b>"),
        ((17, 29), "Der Kanzler heißt <b>Olaf Scholz</b>."),  # the space before is not bolded
    ],
)
def test_reader_span_at_the_edges(span: tuple[int, int], quote: str) -> None:
    (message,) = format_answer(reader(SENTENCE, span), "de")
    assert_valid([message])
    assert quote_of_first(message) == quote


@pytest.mark.parametrize(
    ("span", "answer", "mode"),
    [
        ((18, 31), "Olaf Scholz.", "reader"),  # past the end
        ((-1, 29), "Olaf Scholz", "reader"),
        ((29, 18), "Olaf Scholz", "reader"),
        ((18, 18), "Olaf Scholz", "reader"),
        (None, "Olaf Scholz", "reader"),
        ((18, 29), "Angela Merkel", "reader"),  # the slice is not the answer
        ((18.0, 29.0), "Olaf Scholz", "reader"),
        ((18,), "Olaf Scholz", "reader"),
        ((18, 29), "Olaf Scholz", "sentence"),
    ],
)
def test_invalid_reader_span_means_no_bold(span: object, answer: str, mode: str) -> None:
    (message,) = format_answer(reader(SENTENCE, span, answer=answer, mode=mode), "de")
    assert_valid([message])
    assert quote_of_first(message) == SENTENCE
    assert message.startswith(answer + "\n")


@pytest.mark.parametrize("limit", [MAX_MESSAGE_CHARS, 500])
def test_reader_span_in_a_huge_sentence_falls_back_to_a_split_plain_quote(limit: int) -> None:
    text = " ".join(f"Teil {n} <&> mit Worten" for n in range(400)) + " Olaf Scholz <&> am Ende."
    start = text.index("Olaf Scholz")
    messages = format_answer(reader(text, (start, start + len("Olaf Scholz <&>"))), "de", limit=limit)
    visible = assert_valid(messages, limit)
    assert len(messages) > 1 and visible[0].startswith("Olaf Scholz <&>\n")
    assert "<b>Olaf" not in "".join(messages)  # no bold that a split could have cut
    assert "Olaf Scholz <&> am Ende." in visible[-1]


def test_reader_span_bolded_when_the_quote_just_fits() -> None:
    header = "[1] Biden & Putin <live> · Dezember 2021 · Satz 3\n"
    text = "Wort " * 700 + "Olaf Scholz."
    limit = len(header) + len(text)  # the citation block fills a message exactly
    start = text.index("Olaf")
    messages = format_answer(reader(text, (start, start + 11)), "de", limit=limit)
    assert_valid(messages, limit)
    assert messages[1].endswith("<b>Olaf Scholz</b>.</blockquote>")
    plain = format_answer(reader(text, (start, start + 11)), "de", limit=limit - 1)
    assert_valid(plain, limit - 1)
    assert "<b>Olaf" not in "".join(plain)  # one character less and the quote must be split


def test_reader_span_bold_after_a_title_of_its_own() -> None:
    messages = format_answer(reader(SENTENCE, (18, 29), title=HUGE_TITLE), "de", limit=500)
    assert_valid(messages, 500)
    assert "<blockquote>Der Kanzler heißt <b>Olaf Scholz</b>.</blockquote>" in "".join(messages)


def test_reader_abstention_unchanged() -> None:
    abstained = Answer("q", None, 0.0, mode="reader", span=(0, 3))
    assert format_answer(abstained, "de") == [t("de", "abstain")]
