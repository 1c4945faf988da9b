"""End to end through the bot: links and feeds from a local news site, digests to subscribers
exactly once (also across a restart), follow-up questions, and bad input to the new commands."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from bot_testkit import ADMIN_ID
from conftest import RunBot
from fake_telegram import FakeTelegram
from news_server import NewsServer, load_news

from bot.conversation import Conversations
from bot.feeds import feed_runtime, poll_feeds
from bot.services import services
from retriever.settings import Settings

NEWS = load_news()
pytestmark = pytest.mark.skipif(not NEWS, reason="../shared/data/10kGNAD/test.csv is not here")
SUBSCRIBER = 5150
STRANGER = 6160


@pytest.fixture(scope="module")
def site() -> Iterator[NewsServer]:
    with NewsServer(NEWS) as server:
        yield server


def core(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, allow_private_urls=True, feed_interval=3600, fetch_timeout=3)


def new_article_digests(fake: FakeTelegram, chat_id: int) -> list[str]:
    return [m.visible for m in fake.messages_to(chat_id) if m.visible.startswith("📰 Neuer Artikel")]


async def command(fake: FakeTelegram, chat_id: int, name: str, args: str = "") -> str:
    reply = await fake.reply_to(chat_id, lambda: fake.send_command(chat_id, name, args, user_id=chat_id))
    return reply.visible


async def test_a_link_is_an_article_and_a_reply_to_its_digest_asks_about_it(
    fake: FakeTelegram, run_bot: RunBot, site: NewsServer, tmp_path: Path
) -> None:
    story = site.story(40)
    async with run_bot(core=core(tmp_path)) as app:
        await command(fake, SUBSCRIBER, "subscribe")
        added = await fake.reply_to(
            ADMIN_ID, lambda: fake.send_text(ADMIN_ID, site.article_url(40), user_id=ADMIN_ID)
        )
        digests = await fake.wait_for_messages(SUBSCRIBER, 2)
        stranger = await fake.reply_to(
            STRANGER, lambda: fake.send_text(STRANGER, site.article_url(41), user_id=STRANGER)
        )
        ftp = await command(fake, ADMIN_ID, "index", "ftp://example.org/a.txt")
        empty = await command(fake, ADMIN_ID, "index", site.url("/empty.html"))
        missing = await command(fake, ADMIN_ID, "index", site.url("/status/404"))
        # a question as a reply to the digest is asked about the digest's article
        digest = digests[1]
        replied = {
            "message_id": digest.message_id,
            "date": 0,
            "chat": fake.chat(SUBSCRIBER),
            "from": fake.bot_user,
            "text": digest.visible,
        }
        sentence = story.paragraphs[-1].split(". ")[0]
        answer = await fake.reply_to(
            SUBSCRIBER, lambda: fake.send_text(SUBSCRIBER, f"{sentence}?", reply_to=replied)
        )
        conversations = Conversations(services(app).repo)
        article_id = await conversations.article_of_message(SUBSCRIBER, digest.message_id)
        recent = None
        for _ in range(50):  # recorded right after the answer was sent
            if (recent := await conversations.recent_answer(SUBSCRIBER)) is not None:
                break
            await asyncio.sleep(0.05)
    assert added.visible.startswith(f"✅ Indexiert: {story.title}")
    assert digest.visible.startswith("📰 Neuer Artikel") and story.title in digest.visible
    assert "nur die Administratoren" in stranger.visible
    assert ftp.startswith("Der Link wurde nicht indexiert: ftp://") and "only http and https" in ftp
    assert empty.startswith("Der Link wurde nicht indexiert:") and "no article text" in empty
    assert "HTTP 404" in missing
    assert article_id is not None and recent == article_id
    assert story.title in answer.visible  # the answer names the article it is from
    assert not fake.rejected


async def test_feed_entries_are_digested_exactly_once_across_a_restart(
    fake: FakeTelegram, run_bot: RunBot, site: NewsServer, tmp_path: Path
) -> None:
    site.add_entries("bot", [50, 51])
    url = site.url("/feed/bot.xml")
    async with run_bot(core=core(tmp_path)) as app:
        await command(fake, SUBSCRIBER, "subscribe")
        assert (await command(fake, STRANGER, "feeds")).startswith("Dieser Befehl ist den Administratoren")
        assert (await command(fake, ADMIN_ID, "feed_add")).startswith("Verwendung: /feed_add")
        refused = await command(fake, ADMIN_ID, "feed_add", "ftp://example.org/feed.xml")
        added = await command(fake, ADMIN_ID, "feed_add", url)
        assert (await command(fake, ADMIN_ID, "feed_add", url)).startswith("Dieser Feed ist bereits")
        registry = feed_runtime(app).registry
        feed_id = registry.feeds()[0].id

        def indexed(count: int) -> bool:
            return registry.feeds()[0].entries >= count

        for _ in range(100):  # the first poll runs in the background
            if indexed(2):
                break
            await asyncio.sleep(0.1)
        assert indexed(2), (registry.entries(), registry.feeds(), feed_runtime(app).last_report)
        await asyncio.sleep(0.5)
        quiet = new_article_digests(fake, SUBSCRIBER)  # the first poll announces nothing
        site.add_entries("bot", [52, 53])
        await poll_feeds(app, [feed_id], wait=True)
        await fake.wait_for(lambda: len(new_article_digests(fake, SUBSCRIBER)) >= 2)
        listing = await command(fake, ADMIN_ID, "feeds")
    async with run_bot(core=core(tmp_path)) as app:
        before = site.not_modified
        await poll_feeds(app, [feed_id], wait=True)
        assert site.not_modified == before + 1  # ETag honoured after the restart
        site.add_entries("bot", [54])
        await poll_feeds(app, [feed_id], wait=True)
        await fake.wait_for(lambda: len(new_article_digests(fake, SUBSCRIBER)) >= 3)
        await asyncio.sleep(0.5)
        unknown = await command(fake, ADMIN_ID, "feed_remove", "999")
        garbage = await command(fake, ADMIN_ID, "feed_remove", "<b>x</b>")
        removed = await command(fake, ADMIN_ID, "feed_remove", str(feed_id))
        empty = await command(fake, ADMIN_ID, "feeds")
    digests = new_article_digests(fake, SUBSCRIBER)
    assert quiet == []
    assert len(digests) == 3
    for n, digest in zip((52, 53, 54), digests, strict=True):
        assert site.story(n).title in digest
    assert refused.startswith("Dieser Feed wird nicht eingetragen")
    assert added.startswith(f"✅ Feed {feed_id} eingetragen: {url}")
    assert listing.startswith("Feeds (1)") and url in listing and "4 Artikel" in listing
    assert "keinen Feed mit der ID „999“" in unknown and "keinen Feed mit der ID „<b>x</b>“" in garbage
    assert removed.startswith(f"🗑 Feed {feed_id} entfernt")
    assert empty.startswith("Es sind keine Feeds eingetragen")
    assert not fake.rejected
