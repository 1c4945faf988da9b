"""Titles are capped at MAX_TITLE_CHARS by one rule; Markdown articles are indexed as plain text."""

from __future__ import annotations

from pathlib import Path

import pytest

from retriever.ingest import MAX_TITLE_CHARS, Article, cap_title, parse_article, read_article
from retriever.markdown_text import markdown_blocks

LONG_TITLE = " ".join(f"Wort{n}" for n in range(1, 1000))  # ~7,000 characters


def assert_verbatim(article: Article) -> None:
    """Every sentence is a verbatim span of the indexed body."""
    assert article.sentences
    for sentence in article.sentences:
        assert article.body[sentence.start : sentence.end] == sentence.text


def test_cap_title_cuts_at_a_word_boundary() -> None:
    assert cap_title("  Kurzer Titel  ") == "Kurzer Titel"
    exact = "x" * MAX_TITLE_CHARS
    assert cap_title(exact) == exact
    capped = cap_title(LONG_TITLE)
    assert len(capped) <= MAX_TITLE_CHARS and capped.endswith("…")
    assert LONG_TITLE.startswith(capped[:-1]) and LONG_TITLE[len(capped) - 1] == " "  # a whole word
    assert cap_title("y" * 5000) == "y" * (MAX_TITLE_CHARS - 1) + "…"  # one endless word: cut mid-word
    assert cap_title("Ein, " + "z" * 400) == "Ein, " + "z" * (MAX_TITLE_CHARS - 6) + "…"


@pytest.mark.parametrize(
    ("text", "source"),
    [
        (f"date 2024-05 {LONG_TITLE}\n\nDer Text. Noch ein Satz.", "kopf.txt"),
        (f"{LONG_TITLE}\n\nDer Text. Noch ein Satz.", "ohne-kopf.txt"),
        (f"# {LONG_TITLE}\n\nDer Text. Noch ein Satz.", "notiz.md"),
        (f"date 2024-05 {LONG_TITLE}\n\nDer Text. Noch ein Satz.", "kopf.md"),
        ("Der Text. Noch ein Satz.", "/tmp/" + "dateiname-" * 40 + ".txt"),
    ],
)
def test_same_title_rule_for_headers_plain_text_markdown_and_file_names(text: str, source: str) -> None:
    article = parse_article(text, source)
    assert len(article.title) <= MAX_TITLE_CHARS and article.title.endswith("…")
    assert [s.text for s in article.sentences] == ["Der Text.", "Noch ein Satz."]  # nothing else lost


def test_a_first_line_that_ends_like_a_sentence_is_text() -> None:
    quote = parse_article("Er sagte: „Wir kommen.“\n\nDann kam er.", "/x/zitat.txt")
    assert quote.title == "zitat" and quote.sentences[0].text == "Er sagte: „Wir kommen.“"
    assert parse_article("Kurz und gut\n\nText. Mehr.", "a.txt").title == "Kurz und gut"


MARKDOWN = """---
layout: post
title: "Der *Hafen* wächst"
---

# Hamburg plant den **Ausbau** des [Hafens](https://example.org/hafen)

Der Senat hat am Montag *neue Pläne* vorgestellt. Die Kosten liegen laut `Senat` bei
zwei Milliarden Euro.![Karte](karte.png)

## Kritik

- Umweltverbände warnen vor Folgen für die Elbe.
- Anwohner fürchten ~~mehr~~ Lärm.

> Wir brauchen den Ausbau, sagte die Senatorin.

```python
print("Das ist kein Satz des Artikels.")
```

    eingerückter Code ist auch kein Satz.

<div class="ad">Werbung, kein Satz.</div>

| Jahr | Container |
|------|-----------|
| 2023 | 7,7 Mio. |

Mehr dazu unter <https://example.org/mehr> und bei \\*Partnern\\*.
"""


def test_markdown_markup_is_stripped_and_citations_are_verbatim() -> None:
    article = parse_article(MARKDOWN, "hafen.md")
    assert article.title == "Der Hafen wächst"  # from the front matter
    assert_verbatim(article)
    texts = [s.text for s in article.sentences]
    assert texts[0] == "Hamburg plant den Ausbau des Hafens"
    assert "Der Senat hat am Montag neue Pläne vorgestellt." in texts
    assert "Die Kosten liegen laut Senat bei zwei Milliarden Euro." in texts
    assert "Kritik" in texts
    assert "Umweltverbände warnen vor Folgen für die Elbe." in texts
    assert "Anwohner fürchten mehr Lärm." in texts
    assert "Wir brauchen den Ausbau, sagte die Senatorin." in texts
    assert "2023 | 7,7 Mio." in texts
    assert "Mehr dazu unter https://example.org/mehr und bei *Partnern*." in texts
    for gone in ("**", "](", "![", "```", "print(", "eingerückter", "Werbung", "<div", "karte.png", "# "):
        assert gone not in article.body, gone
    assert "layout" not in article.body


def test_markdown_title_from_the_first_heading_and_header_titles_lose_markup() -> None:
    md = parse_article("Intro-Zeile *ohne* Punkt\n\nText hier. Mehr Text.", "a.md")
    assert md.title == "Intro-Zeile ohne Punkt" and md.body == "Text hier. Mehr Text."
    setext = parse_article("Die Überschrift\n===============\n\nText hier.", "b.md")
    assert setext.title == "Die Überschrift" and [s.text for s in setext.sentences] == ["Text hier."]
    header = parse_article("date 2024-05 Der **neue** [Plan](http://x)\n\n*Text* hier.", "c.md")
    assert (header.title, header.date, header.body) == ("Der neue Plan", "2024-05", "Text hier.")
    no_title = parse_article("Ein ganzer Satz mit *Betonung*.\nUnd eine zweite Zeile.", "/p/notiz.md")
    assert no_title.title == "notiz" and no_title.body.startswith("Ein ganzer Satz mit Betonung.")
    # the same text as .txt keeps its characters: only .md files are Markdown
    plain = parse_article("date 2024-05 T\n\nEin *Stern*chen bleibt.", "d.txt")
    assert plain.sentences[0].text == "Ein *Stern*chen bleibt."


def test_markdown_file_without_text_is_refused(tmp_path: Path) -> None:
    from retriever.ingest import ArticleError

    path = tmp_path / "code.md"
    path.write_text("```\nnur Code\n```\n\n![Bild](b.png)\n\n<p>html</p>\n", encoding="utf-8")
    with pytest.raises(ArticleError, match=r"code\.md: no article text"):
        read_article(path)


def test_markdown_blocks_kinds() -> None:
    blocks = markdown_blocks("# H\n\nP *x*.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert [(b.kind, b.text) for b in blocks] == [
        ("heading", "H"),
        ("paragraph", "P x."),
        ("row", "a | b"),
        ("row", "1 | 2"),
    ]


def test_markdown_nested_too_deep_is_refused_not_cut() -> None:
    from retriever.ingest import ArticleError

    deep = parse_article("# T\n\n" + "> " * 30 + "Tief zitiert.\n\n" + "- " * 15 + "Tief gelistet.\n", "a.md")
    assert [s.text for s in deep.sentences] == ["Tief zitiert.", "Tief gelistet."]
    for hostile in ("> " * 5000 + "Text.\n", "- " * 40 + "Text.\n"):
        with pytest.raises(ArticleError, match=r"a\.md: Markdown nested more than"):
            parse_article("# T\n\n" + hostile, "a.md")
