"""The service end to end with the real offline e5 model: answers, citations, abstention, indexing."""

from __future__ import annotations

from pathlib import Path

import pytest

from retriever.ingest import ArticleError, read_article
from retriever.service import MAX_QUESTION_CHARS, NewsQA
from retriever.settings import DEFAULT_ARTICLE, Settings
from tests.retriever.conftest import write_article

DEFAULT = read_article(DEFAULT_ARTICLE)


def assert_verbatim(qa: NewsQA, citations: tuple) -> None:  # type: ignore[type-arg]
    for c in citations:
        info = qa.store.article(c.article_id)
        assert info is not None and (c.title, c.date) == (info.title, info.date)
        sentences = {d.meta["sentence_number"]: d.content for d in qa.store.sentences(c.article_id)}
        assert sentences[c.sentence_number] == c.text


def test_first_use_indexes_the_default_article(default_qa: NewsQA) -> None:
    [article] = default_qa.articles()
    assert (article.article_id, article.title, article.date) == (DEFAULT.article_id, DEFAULT.title, "2021-12")
    assert article.sentence_count == 14


@pytest.mark.parametrize(
    ("question", "expected_sentence"),
    [
        ("Um wie viel Uhr begann das Gespräch?", 2),
        ("Wie viele Soldaten soll die Ukraine an die Linie verlegt haben?", 8),
        ("Wann hat Russland die Krim annektiert?", 13),
        ("Where did Putin and Biden first meet in person?", 11),
        ("How many soldiers did Ukraine move to the separatist areas?", 8),
    ],
)
def test_answers_cite_the_right_sentence_verbatim(
    default_qa: NewsQA, question: str, expected_sentence: int
) -> None:
    answer = default_qa.ask(question)
    assert answer.answer is not None and answer.mode in ("reader", "sentence")
    if answer.mode == "reader":  # the answer is a span of citation [1], exactly where `span` says
        assert answer.span is not None
        assert answer.citations[0].text[answer.span[0] : answer.span[1]] == answer.answer
    else:
        assert answer.answer == answer.citations[0].text
    assert answer.citations[0].sentence_number == expected_sentence
    assert answer.citations[0].text == DEFAULT.sentences[expected_sentence - 1].text
    assert [c.number for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    assert_verbatim(default_qa, answer.citations)


@pytest.mark.parametrize(
    "question",
    [
        "Wer hat die Fußball-Weltmeisterschaft 2014 gewonnen?",
        "What is the boiling point of water?",
        "asdf qwertz",
    ],
)
def test_off_topic_questions_abstain_without_citations(default_qa: NewsQA, question: str) -> None:
    answer = default_qa.ask(question)
    assert answer.answer is None and answer.citations == () and answer.abstained


def test_answer_json_schema(default_qa: NewsQA) -> None:
    data = default_qa.ask("Um wie viel Uhr begann das Gespräch?").to_dict()
    assert set(data) == {"question", "verdict", "answer", "score", "citations", "latency_ms"}
    assert isinstance(data["answer"], str) and isinstance(data["score"], float)
    assert set(data["citations"][0]) == {"article_id", "title", "date", "sentence_number", "text"}
    assert default_qa.ask("Wer gewann die Tour de France 1998?").to_dict()["answer"] is None


@pytest.mark.parametrize("question", ["", "   \n\t ", "x" * (MAX_QUESTION_CHARS + 1)])
def test_bad_questions_raise_value_error(default_qa: NewsQA, question: str) -> None:
    with pytest.raises(ValueError, match="question"):
        default_qa.ask(question)


def test_html_in_a_question_is_just_text(default_qa: NewsQA) -> None:
    answer = default_qa.ask("<b>Wann</b> begann das <script>Gespräch</script>?")
    assert answer.question.startswith("<b>Wann</b>")
    assert_verbatim(default_qa, answer.citations)


def test_digest_has_three_to_five_cited_sentences_in_article_order(default_qa: NewsQA) -> None:
    digest = default_qa.digest()
    numbers = [c.sentence_number for c in digest.sentences]
    assert 3 <= len(numbers) <= 5 and numbers == sorted(numbers) and numbers[0] == 1
    assert [c.number for c in digest.sentences] == list(range(1, len(numbers) + 1))
    assert_verbatim(default_qa, digest.sentences)
    assert default_qa.digest(DEFAULT.article_id) == digest
    with pytest.raises(KeyError):
        default_qa.digest("nosuchid")


def test_reindexing_is_idempotent_and_changes_replace(empty_qa: NewsQA, tmp_path: Path) -> None:
    path = write_article(
        tmp_path, "a.txt", " date 2022-01 Alpha\n\nDer Hafen von Kiel wurde erweitert. Es kostete viel."
    )
    first = empty_qa.index_file(path)
    assert first.status == "added"
    assert empty_qa.index_file(path).status == "unchanged"
    copy = write_article(tmp_path, "copy/a.txt", path.read_text(encoding="utf-8"))
    assert empty_qa.index_file(copy).status == "duplicate"
    assert empty_qa.store.count_sentences() == 2 and len(empty_qa.articles()) == 1

    path.write_text(
        " date 2022-01 Alpha\n\nDer Hafen von Kiel wurde verkleinert. Es war billig. Gut so.", "utf-8"
    )
    changed = empty_qa.index_file(path)
    assert (changed.status, changed.replaced) == ("replaced", first.article.article_id)
    assert [a.article_id for a in empty_qa.articles()] == [changed.article.article_id]
    assert empty_qa.store.count_sentences() == 3
    assert empty_qa.store.sentences(first.article.article_id) == []


def test_a_bad_file_leaves_the_index_as_it_was(empty_qa: NewsQA, tmp_path: Path) -> None:
    good = write_article(tmp_path, "good.txt", " date 2022-02 Gut\n\nIn Bremen regnet es seit Tagen.")
    empty_qa.index_file(good)
    before = (empty_qa.articles(), empty_qa.store.count_sentences())
    for name, text in [("empty.txt", ""), ("bad.txt", " date 2022-99 Kaputt\n\nText.")]:
        with pytest.raises(ArticleError, match=name):
            empty_qa.index_file(write_article(tmp_path, name, text))
    assert (empty_qa.articles(), empty_qa.store.count_sentences()) == before


def test_index_paths_reports_each_file_and_keeps_going(empty_qa: NewsQA, tmp_path: Path) -> None:
    folder = tmp_path / "articles"
    write_article(folder, "1.txt", " date 2023-01 Eins\n\nDie Elbe führt Hochwasser.")
    write_article(folder, "2.md", "# Zwei\n\nDer Bundestag tagte bis spät in die Nacht.")
    write_article(folder, "3.txt", "")
    outcomes = empty_qa.index_paths([folder])
    assert [getattr(o, "status", "error") for o in outcomes] == ["added", "added", "error"]
    assert "3.txt" in str(outcomes[2])
    assert len(empty_qa.articles()) == 2


def test_a_second_process_starts_warm_and_sees_new_articles(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = NewsQA(settings)
    first.warm_up()
    second = NewsQA(settings)  # as another process would: reads the persisted index
    assert [a.article_id for a in second.articles()] == [DEFAULT.article_id]
    assert second.ask("Um wie viel Uhr begann das Gespräch?").citations[0].sentence_number == 2

    new = write_article(
        tmp_path, "neu.txt", " date 2023-05 Neu\n\nDer Rhein ist bei Köln über die Ufer getreten."
    )
    result = second.index_file(new)
    assert first.refresh() is True and first.refresh() is False
    assert first.articles()[0].article_id == result.article.article_id
    assert (
        first.ask("Wo ist der Rhein über die Ufer getreten?").citations[0].article_id
        == result.article.article_id
    )


def test_delete_removes_an_article(empty_qa: NewsQA, tmp_path: Path) -> None:
    result = empty_qa.index_file(
        write_article(tmp_path, "x.txt", " date 2021-01 X\n\nEin Satz über Hamburg.")
    )
    assert empty_qa.delete(result.article.article_id) is True
    assert empty_qa.articles() == [] and empty_qa.store.count_sentences() == 0
    assert empty_qa.delete(result.article.article_id) is False


def test_an_upload_name_is_a_label_not_the_identity(empty_qa: NewsQA) -> None:
    first = empty_qa.index_text(" date 2024-03 Eins\n\nIn Kiel wurde ein Kran aufgebaut.", "artikel.txt")
    second = empty_qa.index_text(" date 2024-03 Zwei\n\nIn Lübeck streiken die Busfahrer.", "artikel.txt")
    assert (first.status, second.status) == ("added", "added")  # same name, other text: a new article
    assert second.replaced is None and len(empty_qa.articles()) == 2
    again = empty_qa.index_text(" date 2024-03 Eins\n\nIn Kiel wurde ein Kran aufgebaut.", "kran.md")
    assert (again.status, again.article.article_id) == ("duplicate", first.article.article_id)
    assert len(empty_qa.articles()) == 2


def test_a_big_file_reports_progress_by_sentences(empty_qa: NewsQA, tmp_path: Path) -> None:
    paragraphs = [
        " ".join(f"Im Absatz {p} steht der Satz {s} über den Hafen." for s in range(1, 31))
        for p in range(1, 5)
    ]
    path = write_article(tmp_path, "gross.txt", " date 2024-04 Groß\n\n" + "\n\n".join(paragraphs))
    calls: list[tuple[int, int]] = []
    result = empty_qa.index_file(path, progress=lambda done, total: calls.append((done, total)))
    assert result.article.sentence_count == 120
    assert calls[0] == (0, 120) and calls[-1] == (120, 120) and len(calls) >= 3
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_reindex_re_embeds_an_index_of_another_model(tmp_path: Path) -> None:
    from retriever.errors import ModelMismatch
    from retriever.store.sqlite import SQLiteSentenceStore

    settings = Settings(data_dir=tmp_path / "data", index_default=False)
    old = NewsQA(settings, store=SQLiteSentenceStore(settings.data_dir / "index", model_id="fake-e5 0.0"))
    text = ARTICLE_TEXT_SHORT
    old.index_text(text, "kiel.txt")
    old.store.close()

    qa = NewsQA(settings)
    with pytest.raises(ModelMismatch, match="newsqa reindex"):
        qa.ask("Was wurde in Kiel erweitert?")
    assert any("newsqa reindex" in problem for problem in qa.health())
    reembedded: list[str] = []
    repaired, count = qa.reindex(on_article=lambda info, n: reembedded.append(info.title))
    assert (repaired, count, reembedded) == ([], 1, ["Kiel"])
    assert qa.health() == [] and set(qa.store.embedding_models()) == {qa.store.model_id}
    answer = qa.ask("Was wurde in Kiel erweitert?")
    assert answer.citations and "Hafen" in answer.citations[0].text


ARTICLE_TEXT_SHORT = (
    " date 2024-05 Kiel\n\nDer Hafen von Kiel wurde erweitert. Die Arbeiten dauerten zwei Jahre."
)


def test_a_follow_up_stays_on_its_article_unless_another_matches_far_better(tmp_path: Path) -> None:
    """Here the answer comes from retrieval alone (no reader, no threshold), so the article asked
    first always "answers": only the follow-up rule decides where the answer comes from."""
    from retriever.pipeline import PipelineConfig

    settings = Settings(data_dir=tmp_path / "data", index_default=False)
    qa = NewsQA(settings, config=PipelineConfig(reader_model="none", abstain_thresholds={"de": 0.0}))
    tower_text = (
        "date 2024-05 Leuchtturm\n\nDer Leuchtturm von Nordhafen wurde 1887 aus rotem Backstein "
        "erbaut. Er ist 31 Meter hoch."
    )
    ferry_text = (
        "date 2024-05 Fähre\n\nDie Fähre nach Südinsel fährt ab Mai. Die Überfahrt nach Südinsel "
        "dauert vierzig Minuten."
    )
    tower = qa.index_file(write_article(tmp_path, "turm.txt", tower_text)).article.article_id
    ferry = qa.index_file(write_article(tmp_path, "faehre.txt", ferry_text)).article.article_id
    assert qa.ask("Wie hoch ist er?", tower).citations[0].article_id == tower
    crossing = qa.ask("Wie lange dauert die Überfahrt nach Südinsel?", tower)
    assert crossing.citations[0].article_id == ferry and "vierzig Minuten" in crossing.citations[0].text
