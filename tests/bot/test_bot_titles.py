"""End to end: an upload with a 5,000-character title, and a Markdown upload, through the bot: the
admin's reply, answers citing them, the digest and the article list all arrive."""

from __future__ import annotations

import uuid

from bot_testkit import ADMIN_ID
from conftest import RunBot
from fake_telegram import FakeTelegram

from retriever.ingest import MAX_TITLE_CHARS


async def upload(fake: FakeTelegram, name: str, content: str) -> str:
    reply = await fake.reply_to(
        ADMIN_ID,
        lambda: fake.send_document(ADMIN_ID, name, content.encode(), caption="/index", user_id=ADMIN_ID),
    )
    return reply.visible


async def test_huge_title_and_markdown_uploads(fake: FakeTelegram, run_bot: RunBot) -> None:
    tag = uuid.uuid4().hex[:6]
    title = " ".join(["Leuchtturm"] + [f"Wort{n}" for n in range(700)])  # ~5,000 characters
    assert len(title) > 4500
    body = (
        f"Der Leuchtturm von Nordhafen{tag} wurde im Jahr 1887 aus rotem Backstein erbaut. "
        "Er ist 31 Meter hoch und steht seit 1990 unter Denkmalschutz."
    )
    markdown = (
        f"# Die **Fähre** nach [Südinsel{tag}](https://example.org)\n\n"
        f"Die Fähre nach Südinsel{tag} fährt *ab Mai* zweimal täglich. ![Foto](f.jpg)\n\n"
        "```\ncode, der nicht indexiert wird\n```\n\n"
        f"- Die Überfahrt nach Südinsel{tag} dauert **vierzig Minuten**.\n"
    )
    async with run_bot():
        added = await upload(fake, "leuchtturm.txt", f"date 2024-05 {title}\n\n{body}\n")
        md_added = await upload(fake, "faehre.md", markdown)
        answer = await fake.reply_to(
            7401, lambda: fake.send_text(7401, f"Wann wurde der Leuchtturm von Nordhafen{tag} erbaut?")
        )
        md_answer = await fake.reply_to(
            7401, lambda: fake.send_text(7401, f"Wie lange dauert die Überfahrt nach Südinsel{tag}?")
        )
        article_id = added.split("ID ")[1].split(")")[0]
        digest = await fake.reply_to(7401, lambda: fake.send_command(7401, "digest", article_id))
        listing = await fake.reply_to(7401, lambda: fake.send_command(7401, "articles"))
    capped = title[: MAX_TITLE_CHARS - 1].rsplit(" ", 1)[0] + "…"
    assert added.startswith(f"✅ Indexiert: {capped} (2 Sätze, ID ")
    assert md_added.startswith(f"✅ Indexiert: Die Fähre nach Südinsel{tag} (")
    assert "1887" in answer.visible and f"{capped} · Mai 2024 · Satz 1" in answer.visible
    plain = (
        f"Die Überfahrt nach Südinsel{tag} dauert vierzig Minuten.",
        f"Südinsel{tag} fährt ab Mai zweimal täglich.",
    )
    assert any(sentence in md_answer.visible for sentence in plain), md_answer.visible
    assert "**" not in md_answer.visible and "https://" not in md_answer.visible
    assert capped in digest.visible and "rotem Backstein" in digest.visible
    assert capped in listing.visible
    assert not fake.rejected
