"""Nothing lost: concurrent `newsqa index` runs and a bot-style upload into one data dir, and runs
killed with SIGKILL or stopped with SIGTERM mid-folder. Every article reported "added" is stored,
none half, and running the same command again adds the rest exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.retriever.test_cli import newsqa

pytestmark = pytest.mark.slow

TOWNS = [
    "Kiel",
    "Ulm",
    "Jena",
    "Trier",
    "Passau",
    "Görlitz",
    "Husum",
    "Lindau",
    "Celle",
    "Fulda",
    "Gera",
    "Hof",
]


def small_article(tag: str, i: int) -> str:
    town = TOWNS[i % len(TOWNS)]
    return (
        f" date 2024-0{1 + i % 9} Meldung {tag} {i} aus {town}\n\n"
        f"In {town} hat der Stadtrat am Montag über Vorhaben {tag}-{i} beraten. "
        f"Die Entscheidung fiel mit {10 + i} Stimmen.\n\nDer Bürgermeister sprach von einem guten Tag."
    )


def write_folder(folder: Path, tag: str, count: int) -> None:
    folder.mkdir(parents=True)
    for i in range(count):
        (folder / f"{tag}-{i:02d}.txt").write_text(small_article(tag, i), encoding="utf-8")


def _env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "NEWSQA_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "NEWSQA_INDEX_DEFAULT": "0"}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    return env


def start(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "retriever.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(data_dir),
    )


UPLOADER = """
import sys
from retriever.service import NewsQA
qa = NewsQA()
for text in sys.stdin.read().split("\\f"):
    result = qa.index_text(text, "artikel.txt")  # every upload has the same name, as in the bot
    print(result.status, result.article.article_id, flush=True)
"""


def stored_ids(data_dir: Path) -> list[str]:
    run = newsqa(data_dir, "articles", "--json", env={"NEWSQA_INDEX_DEFAULT": "0"})
    assert run.returncode == 0, run.stderr
    return [json.loads(line)["article_id"] for line in run.stdout.splitlines()]


def added_ids(stdout: str) -> list[str]:
    return [line.split("added: ", 1)[1].split()[0] for line in stdout.splitlines() if ": added: " in line]


def test_two_cli_runs_and_an_upload_at_once_lose_nothing(tmp_path: Path) -> None:
    write_folder(tmp_path / "a", "a", 6)
    write_folder(tmp_path / "b", "b", 6)
    data = tmp_path / "data"
    uploader = subprocess.Popen(
        [sys.executable, "-c", UPLOADER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(data),
    )
    runs = [start(data, "index", str(tmp_path / "a")), start(data, "index", str(tmp_path / "b"))]
    upload_out, upload_err = uploader.communicate(
        "\f".join(small_article("upload", i) for i in range(4)), 300
    )
    outputs = [run.communicate(timeout=300) for run in runs]
    assert uploader.returncode == 0, upload_err
    assert [line.split()[0] for line in upload_out.splitlines()] == ["added"] * 4
    reported = [line.split()[1] for line in upload_out.splitlines()]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
        assert out.splitlines()[-1] == "6 added"
        reported += added_ids(out)
    assert len(reported) == 16
    assert sorted(stored_ids(data)) == sorted(reported)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_a_run_killed_mid_folder_keeps_every_reported_article(tmp_path: Path, signum: int) -> None:
    write_folder(tmp_path / "in", "k", 12)
    data = tmp_path / "data"
    run = start(data, "index", str(tmp_path / "in"))
    assert run.stdout is not None
    reported: list[str] = []
    for line in run.stdout:
        reported += added_ids(line)
        if len(reported) == 3:
            run.send_signal(signum)
            break
    rest, err = run.communicate(timeout=120)
    reported += added_ids(rest)
    if signum == signal.SIGTERM:
        assert run.returncode == 143, err
        assert "stopped by SIGTERM" in err and rest.splitlines()[-1] == f"{len(reported)} added"
    else:
        assert run.returncode == -signal.SIGKILL
    stored = stored_ids(data)
    assert set(reported) <= set(stored)  # every reported article survived
    if signum == signal.SIGTERM:
        assert len(stored) == len(reported) < 12  # it finished the article in hand, and only that
    leftovers = {p.name for p in (data / "index").iterdir()} - {"index.db", "index.db-wal", "index.db-shm"}
    assert leftovers == set()
    health = newsqa(data, "health", env={"NEWSQA_INDEX_DEFAULT": "0"})
    assert health.returncode == 0, health.stderr  # nothing half-written

    again = newsqa(data, "index", str(tmp_path / "in"), env={"NEWSQA_INDEX_DEFAULT": "0"})
    assert again.returncode == 0, again.stderr
    assert len(added_ids(again.stdout)) == 12 - len(stored)
    assert again.stdout.count("skipped (already indexed)") == len(stored)
    assert len(stored_ids(data)) == 12
