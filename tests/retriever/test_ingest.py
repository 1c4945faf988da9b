"""Reading article files: header formats, sentence splitting, spans, and every way a file can be bad."""

from __future__ import annotations

from pathlib import Path

import pytest

from retriever.ingest import ArticleError, find_article_files, parse_article, read_article, split_sentences
from retriever.settings import DEFAULT_ARTICLE


def test_default_article_header_with_leading_space() -> None:
    article = read_article(DEFAULT_ARTICLE)
    assert article.title == "Biden und Putin messen ihre Kräfte per Videokonferenz"
    assert article.date == "2021-12"
    assert len(article.sentences) == 14
    assert [s.number for s in article.sentences] == list(range(1, 15))
    assert article.sentences[-1].paragraph == 6


def test_spans_are_verbatim_and_in_order() -> None:
    article = read_article(DEFAULT_ARTICLE)
    previous_end = -1
    for s in article.sentences:
        assert article.body[s.start : s.end] == s.text
        assert s.start > previous_end
        previous_end = s.end


@pytest.mark.parametrize(
    "text",
    [
        "Das Gespräch begann um 16.00 Uhr MEZ in Berlin.",
        "Die Ukraine soll mehr als 120.000 Soldaten verlegt haben.",
        "Dr. Müller sprach am 3. Mai mit der Presse.",
        "Am 3. Mai 2021 um 16.00 Uhr sprach Dr. Schmidt vor 120.000 Menschen.",
    ],
)
def test_german_abbreviations_numbers_and_dates_do_not_split(text: str) -> None:
    assert [s.text for s in split_sentences(text)] == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Das gilt z. B. für Nr. 5. Es kamen ca. 120.000 Menschen.",
            ["Das gilt z. B. für Nr. 5.", "Es kamen ca. 120.000 Menschen."],
        ),
        ("Das zeigten Jones et al. 1998 in Kiel. Gut.", ["Das zeigten Jones et al. 1998 in Kiel.", "Gut."]),
        ("Er sagte: „Wir kommen.“ Dann ging er.", ["Er sagte: „Wir kommen.“", "Dann ging er."]),
        ("„Ja!“, rief er. Ende.", ["„Ja!“, rief er.", "Ende."]),
        ('Sie sagte: "Gut." Er nickte.', ['Sie sagte: "Gut."', "Er nickte."]),
    ],
)
def test_quotes_and_abbreviations_stay_with_their_sentence(text: str, expected: list[str]) -> None:
    assert [s.text for s in split_sentences(text)] == expected


def test_two_sentences_and_paragraphs() -> None:
    sentences = split_sentences("Erster Satz. Zweiter Satz!\n\nDritter Satz?")
    assert [(s.number, s.paragraph, s.text) for s in sentences] == [
        (1, 1, "Erster Satz."),
        (2, 1, "Zweiter Satz!"),
        (3, 2, "Dritter Satz?"),
    ]


def test_header_without_leading_space_and_full_date() -> None:
    article = parse_article("date 2024-05-03 Ein Titel\n\nEin Satz. Noch einer.", "a.txt")
    assert (article.title, article.date, len(article.sentences)) == ("Ein Titel", "2024-05-03", 2)


def test_plain_text_title_from_first_line_and_markdown_heading() -> None:
    assert parse_article("Mein Titel\n\nText hier. Mehr.", "x.txt").title == "Mein Titel"
    md = parse_article("# Überschrift\n\nText hier.", "notes.md")
    assert (md.title, md.date, md.sentences[0].text) == ("Überschrift", "", "Text hier.")


def test_plain_text_without_title_line_uses_file_name() -> None:
    article = parse_article("Nur ein Satz ohne Titel.", "/tmp/mein_artikel.txt")
    assert article.title == "mein artikel"
    assert article.sentences[0].text == "Nur ein Satz ohne Titel."


def test_crlf_and_bom_are_normalised() -> None:
    article = parse_article("\ufeff date 2021-12 T\r\n\r\nA ist gut. B ist schlecht.\r\n", "w.txt")
    assert article.title == "T" and [s.text for s in article.sentences] == ["A ist gut.", "B ist schlecht."]


def test_article_id_is_stable_and_content_based() -> None:
    a = parse_article("date 2021-12 T\n\nEin Satz.", "a.txt")
    b = parse_article("date 2021-12 T\n\nEin  Satz.\n", "other/place.txt")
    c = parse_article("date 2021-12 T\n\nEin anderer Satz.", "a.txt")
    assert a.article_id == b.article_id != c.article_id
    assert len(a.article_id) == 12


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   \n\n \t", "empty"),
        (" date 2021-12 Nur ein Titel\n\n", "no article text"),
        (" date 2021-13 Titel\n\nText.", "not YYYY-MM"),
        (" date Titel ohne Datum\n\nText.", "not YYYY-MM"),
        (" date\n\nText.", "header must be"),
        ("Text\x00mit Nullbyte", "binary"),
    ],
)
def test_bad_articles_name_the_file(text: str, message: str) -> None:
    with pytest.raises(ArticleError, match=message) as info:
        parse_article(text, "bad/file.txt")
    assert "bad/file.txt" in str(info.value)


def test_unreadable_files(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Gr\xfc\xdfe aus K\xf6ln.".encode("latin-1"))
    with pytest.raises(ArticleError, match="not UTF-8"):
        read_article(latin1)
    with pytest.raises(ArticleError, match="unsupported file type"):
        read_article(tmp_path / "article.pdf")
    with pytest.raises(ArticleError, match="no such file"):
        read_article(tmp_path / "missing.txt")
    huge = tmp_path / "huge.txt"
    huge.write_text("Satz. " * 400_000, encoding="utf-8")
    with pytest.raises(ArticleError, match="too large"):
        read_article(huge)


def test_find_article_files_expands_folders(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("b.txt", "a.md", "sub/c.txt", "skip.pdf"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    found = find_article_files([tmp_path])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a.md", "b.txt", "sub/c.txt"]


@pytest.mark.parametrize(
    "text",
    [
        "Der Umsatz stieg im 3. Quartal deutlich.",
        "Der Weltranglisten-182. stellte Thiem vor Probleme.",
        "Thiem liegt auf dem 182. Platz der Weltrangliste.",
        "182. Platz für Thiem.",
        "Das Treffen ist am 7. Dezember geplant.",
        "Der 1. FC Köln gewann zum 2. Mal.",
        "In der 58. Minute verpasste Jacobo die Entscheidung.",
        "Er kam am 3. 12. nach Hause.",
    ],
)
def test_ordinals_stay_inside_their_sentence(text: str) -> None:
    assert [s.text for s in split_sentences(text)] == [text]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Er wurde 1990 geboren. Danach zog er nach Wien.",
            ["Er wurde 1990 geboren.", "Danach zog er nach Wien."],
        ),
        (
            "Das war im Jahr 2015. Die Lage änderte sich.",
            ["Das war im Jahr 2015.", "Die Lage änderte sich."],
        ),
        ("Sie wurde 3. Das war gut.", ["Sie wurde 3.", "Das war gut."]),
        (
            "Die Zahl der Toten stieg auf 182. Rettungskräfte suchten weiter.",
            ["Die Zahl der Toten stieg auf 182.", "Rettungskräfte suchten weiter."],
        ),
        (
            "Der 1. FC Köln gewann zum 2. Mal. Dann kam Bayern im 3. Quartal.",
            ["Der 1. FC Köln gewann zum 2. Mal.", "Dann kam Bayern im 3. Quartal."],
        ),
    ],
)
def test_sentences_still_end_after_numbers(text: str, expected: list[str]) -> None:
    assert [s.text for s in split_sentences(text)] == expected


def test_ordinal_sentences_are_verbatim_spans_of_the_body() -> None:
    body = (
        "Thiem trifft im Head-to-Head auf den Weltranglisten-182.  Er gewann am 7. Dezember\n"
        "zum 2. Mal.\n\nIm 3. Quartal 2015 sank die Zahl. Das war im Jahr 2015. Die Lage blieb."
    )
    article = parse_article(f"Titel\n\n{body}", "ordinals.txt")
    texts = [s.text for s in article.sentences]
    assert texts == [
        "Thiem trifft im Head-to-Head auf den Weltranglisten-182.",
        "Er gewann am 7. Dezember\nzum 2. Mal.",
        "Im 3. Quartal 2015 sank die Zahl.",
        "Das war im Jahr 2015.",
        "Die Lage blieb.",
    ]
    for s in article.sentences:
        assert article.body[s.start : s.end] == s.text
