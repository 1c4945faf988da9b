"""The `newsqa` command as a user runs it: a subprocess with its own data dir."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.retriever.conftest import write_article


def newsqa(
    data_dir: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NEWSQA_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", **(env or {})}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "retriever.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-data")


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_questions() -> list[list[str]]:
    """The questions of each `newsqa ask "..."` example in the README, the set-up command's first."""
    commands = re.findall(r'newsqa ask((?: "[^"]+")+)', README.read_text(encoding="utf-8"))
    return [re.findall(r'"([^"]+)"', args) for args in commands]


def test_readme_set_up_question_is_answered_from_the_default_article(data_dir: Path) -> None:
    run = newsqa(data_dir, "ask", readme_questions()[0][0])
    assert run.returncode == 0, run.stderr
    assert "A: 16.00" in run.stdout  # the reader's short answer, then the sentence that holds it
    assert "[1] \u201eBei dem Gespräch, das kurz nach 16.00 Uhr MEZ begann" in run.stdout
    assert "Biden und Putin messen ihre Kräfte per Videokonferenz, 2021-12, sentence 2" in run.stdout


def test_every_readme_example_question_is_answered_with_a_citation(data_dir: Path) -> None:
    questions = [q for command in readme_questions() for q in command]
    assert len(questions) >= 3, questions
    run = newsqa(data_dir, "ask", "--json", *questions)
    assert run.returncode == 0, run.stderr
    answers = [json.loads(line) for line in run.stdout.splitlines()]
    assert [a["question"] for a in answers] == questions
    declined = [a["question"] for a in answers if a["answer"] is None or not a["citations"]]
    assert not declined, f"README examples the default article's answers decline: {declined}"


def test_ask_json_one_object_per_question_from_args_and_stdin(data_dir: Path) -> None:
    run = newsqa(
        data_dir,
        "ask",
        "--json",
        "Wer annektierte die Krim?",
        "-",
        stdin="Um wie viel Uhr begann das Gespräch?\n\nWho won the 1998 World Cup?\n",
    )
    assert run.returncode == 0, run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [d["question"] for d in lines] == [
        "Wer annektierte die Krim?",
        "Um wie viel Uhr begann das Gespräch?",
        "Who won the 1998 World Cup?",
    ]
    for d in lines:
        assert set(d) == {"question", "verdict", "answer", "score", "citations", "latency_ms"}
        assert d["verdict"] in ("answer", "unsure", "none")
        assert (d["answer"] is None) == (d["verdict"] == "none") == (not d["citations"])
    assert lines[1]["citations"][0]["sentence_number"] == 2
    assert set(lines[1]["citations"][0]) == {"article_id", "title", "date", "sentence_number", "text"}
    assert lines[2]["answer"] is None and lines[2]["citations"] == []


def test_ask_rejects_an_empty_question_with_a_message(data_dir: Path) -> None:
    run = newsqa(data_dir, "ask", "--json", "  ")
    assert run.returncode == 1
    assert json.loads(run.stdout)["error"] == "the question is empty"


def test_index_digest_and_articles(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_article(
        folder,
        "a.txt",
        " date 2023-03 Sturm über Hamburg\n\nEin Sturm hat in Hamburg Dächer abgedeckt. "
        "Die Feuerwehr rückte 300 Mal aus.\n\nVerletzt wurde niemand. Der Hafen war gesperrt.",
    )
    write_article(folder, "b.md", "")
    run = newsqa(data_dir, "index", str(folder))
    assert run.returncode == 1  # one file failed, the other went in
    assert "added: " in run.stdout and "Sturm über Hamburg" in run.stdout
    assert "b.md: the file is empty" in run.stderr
    again = newsqa(data_dir, "index", str(folder / "a.txt"))
    assert again.returncode == 0 and "skipped (already indexed)" in again.stdout

    listing = newsqa(data_dir, "articles", "--json")
    titles = [json.loads(line)["title"] for line in listing.stdout.splitlines()]
    assert titles[0] == "Sturm über Hamburg" and len(titles) == 2

    digest = json.loads(newsqa(data_dir, "digest", "--json").stdout)
    assert digest["title"] == "Sturm über Hamburg"
    numbers = [s["sentence_number"] for s in digest["sentences"]]
    assert len(numbers) == 3 and numbers == sorted(numbers) and numbers[0] == 1

    unknown = newsqa(data_dir, "digest", "nosuchid")
    assert unknown.returncode == 1 and "no article with id 'nosuchid'" in unknown.stderr


def test_index_missing_path_and_bad_arguments(data_dir: Path, tmp_path: Path) -> None:
    run = newsqa(data_dir, "index", str(tmp_path / "nope.txt"))
    assert run.returncode == 1 and "no such file or directory" in run.stderr
    assert newsqa(data_dir, "ask").returncode == 2  # argparse: a question is required
    assert newsqa(data_dir, "frobnicate").returncode == 2


def test_health(data_dir: Path) -> None:
    run = newsqa(data_dir, "health")
    assert run.returncode == 0 and run.stdout.startswith("ok: ")


def test_collection_is_off_only_while_the_service_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """`_service` turns the garbage collector off for the imports and the models (a cold start's
    ~0.5 s), and on again afterwards, also when loading fails."""
    import gc

    import retriever.service
    from retriever import cli

    seen: list[bool] = []

    class Loading:
        def __init__(self) -> None:
            seen.append(gc.isenabled())

        def warm_up(self) -> None:
            seen.append(gc.isenabled())
            raise OSError("no space left on device")

    monkeypatch.setattr(retriever.service, "NewsQA", Loading)
    assert gc.isenabled()
    with pytest.raises(OSError, match="no space"):
        cli._service(warm=True)
    assert seen == [False, False]
    assert gc.isenabled()
    assert isinstance(cli._service(), Loading) and gc.isenabled()
