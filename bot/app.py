"""Building and running the Telegram application (`newsqa-bot`, `python -m bot`).

`build_application` wires python-telegram-bot to the retrieval core: the Bot API endpoint
(`TELEGRAM_BASE_URL` for a local Bot API server), the rate limiter, HTML defaults, the handlers, the
database and the broadcaster. `post_init` creates or upgrades the database, loads the models,
registers the command menu (setMyCommands), rebuilds the daily digest jobs and starts the job that
picks up new articles. `run_bot` runs it with long polling or a webhook and returns an exit code.

Every known start-up failure (bad settings, an unreachable Bot API, a bot database that cannot be
opened, a damaged index) is one line on stderr and a non-zero exit code; `verbose` adds the
traceback and debug logging. No secret (token, webhook secret, database passwords) reaches a log.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import re
import sys
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from telegram import BotCommand, BotCommandScopeChat, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, ApplicationBuilder, Defaults

from bot.broadcast import Broadcaster
from bot.db import SchemaError, create_engine, init_db
from bot.feeds import close_feeds, setup_feeds
from bot.handlers import register
from bot.jobs import rebuild_daily_jobs, resync_daily_job, start_refresh_job
from bot.qa import AsyncQA, NewsQALike, create_newsqa
from bot.ratelimit import NewsQARateLimiter
from bot.repository import Repository
from bot.services import SERVICES_KEY, Services, services
from bot.settings import BotSettings
from bot.texts import ADMIN_COMMANDS, COMMANDS
from retriever.errors import ConfigError, NewsQAError
from retriever.settings import mask_password, url_password

logger = logging.getLogger(__name__)

NewsQAApplication = Application[Any, Any, Any, Any, Any, Any]


def bot_commands(lang: str, admin: bool = False) -> list[BotCommand]:
    entries = dict(COMMANDS)
    if admin:
        entries.update(ADMIN_COMMANDS)
    return [
        BotCommand(name, descriptions["en" if lang == "en" else "de"])
        for name, descriptions in entries.items()
    ]


async def register_commands(application: NewsQAApplication) -> None:
    """setMyCommands: German by default, English for English clients, admin commands for admins."""
    bot = application.bot
    await bot.set_my_commands(bot_commands("de"))
    await bot.set_my_commands(bot_commands("en"), language_code="en")
    for admin_id in sorted(services(application).settings.admin_ids):
        try:
            await bot.set_my_commands(bot_commands("de", admin=True), scope=BotCommandScopeChat(admin_id))
        except TelegramError as exc:  # the admin has not started the bot yet
            logger.warning("Could not set the admin command menu for %s: %s", admin_id, exc)


class StartupError(NewsQAError):
    """The bot cannot start: its database cannot be opened, or the like; `str()` says which and why."""


# Set once the bot is up: until then a failure is reported by `run_bot` in one line, so log records
# of start-up errors lose their tracebacks (unless verbose).
_started = threading.Event()


def _reason(exc: BaseException) -> str:
    """The first line of what went wrong, without SQLAlchemy's statement and background link."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    text = str(cause).strip().splitlines()
    return text[0] if text else type(cause).__name__


async def open_database(found: Services) -> int:
    """Create or upgrade the bot's database; a database that cannot be reached is a StartupError."""
    try:
        return await init_db(found.engine)
    except (SQLAlchemyError, OSError) as exc:
        url = mask_password(found.settings.database_url)
        raise StartupError(
            f"cannot open the bot database {url} (NEWSQA_DATABASE_URL): {_reason(exc)}"
        ) from exc


async def post_init(application: NewsQAApplication) -> None:
    found = services(application)
    version = await open_database(found)
    logger.info("Bot database ready (schema version %d)", version)
    resumed = await found.repo.reset_in_flight()
    if resumed:
        logger.warning("%d digest(s) were being sent when the bot stopped; they will be sent again", resumed)
    await found.qa.warm_up()
    try:
        await register_commands(application)
    except TelegramError as exc:
        logger.warning("Could not register the command menu: %s", exc)
    await rebuild_daily_jobs(application)
    start_refresh_job(application)
    await setup_feeds(application)
    me = application.bot
    _started.set()
    logger.info("newsqa bot @%s is up (%s)", me.username, found.settings.mode)


async def post_shutdown(application: NewsQAApplication) -> None:
    await close_feeds(application)
    await services(application).engine.dispose()


def build_application(
    settings: BotSettings,
    qa: NewsQALike | None = None,
    *,
    rate_limiter: NewsQARateLimiter | None = None,
) -> NewsQAApplication:
    """The configured Application (not started). `qa` defaults to the real `NewsQA`."""
    builder = ApplicationBuilder().token(settings.token)
    if settings.base_url:
        builder = builder.base_url(f"{settings.base_url}/bot").base_file_url(f"{settings.base_url}/file/bot")
    application = (
        builder.rate_limiter(rate_limiter or NewsQARateLimiter(max_retries=3))
        .defaults(
            Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True))
        )
        .concurrent_updates(True)
        .get_updates_read_timeout(settings.poll_timeout + 10.0)
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    engine = create_engine(settings.database_url)
    repo = Repository(engine)
    async_qa = AsyncQA(qa if qa is not None else create_newsqa(settings.core))
    broadcaster = Broadcaster(
        application,
        repo,
        async_qa,
        rate=settings.broadcast_rate,
        on_chat_changed=lambda chat_id: resync_daily_job(application, chat_id),
    )
    application.bot_data[SERVICES_KEY] = Services(
        settings=settings, qa=async_qa, engine=engine, repo=repo, broadcaster=broadcaster
    )
    register(application)
    return application


_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@")
_QUERY_PASSWORD = re.compile(r"(?i)(\bpassword=)[^&\s'\"]+")


# A secret this short is redacted wherever it stands alone (`:pw@`, `=k9`, `"k9"`), not inside longer
# words: a one-letter webhook secret must not turn every "s" of every log line into <redacted>.
_SHORT_SECRET = 8


def _secret_pattern(secret: str) -> re.Pattern[str]:
    escaped = re.escape(secret)
    if len(secret) >= _SHORT_SECRET:
        return re.compile(escaped)
    return re.compile(rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])")


def redact(text: str, secrets: Iterable[str | re.Pattern[str]]) -> str:
    """`text` with every secret (longest first) replaced, and every password in a URL masked as
    `mask_password` does."""
    for secret in secrets:
        pattern = secret if isinstance(secret, re.Pattern) else _secret_pattern(secret)
        text = pattern.sub("<redacted>", text)
    return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def secrets_of(settings: BotSettings) -> list[str]:
    """The bot's secrets, as written and percent-decoded, longest first (so a secret that contains
    another is replaced whole)."""
    found = {
        settings.token,
        settings.token.partition(":")[2],
        settings.webhook_secret,
        url_password(settings.database_url),
        url_password(settings.core.document_store),
    }
    found |= {unquote(secret) for secret in found}
    return sorted((s for s in found if s), key=len, reverse=True)


class RedactingFormatter(logging.Formatter):
    """Never lets a secret (the bot token, the webhook secret, a database password) reach a log line,
    however short it is; passwords in URLs are masked too."""

    def __init__(self, fmt: str, secrets: Iterable[str]) -> None:
        super().__init__(fmt)
        self._secrets = [_secret_pattern(s) for s in sorted({s for s in secrets if s}, key=len, reverse=True)]

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record), self._secrets)


def _one_line_start_up_errors(record: logging.LogRecord) -> bool:
    """Before the bot is up, `run_bot` reports a failure in one line: drop python-telegram-bot's own
    report of it and strip tracebacks (a rejected token is a configuration error at any time)."""
    if record.exc_info and isinstance(record.exc_info[1], InvalidToken):
        record.exc_info = None
        record.exc_text = None
    if not _started.is_set() and record.exc_info:
        if record.name.startswith("telegram") and record.levelno >= logging.ERROR:
            return False
        record.exc_info = None
        record.exc_text = None
    return True


def configure_logging(secrets: Iterable[str], verbose: bool = False, level: str = "") -> None:
    """Log lines to stderr, secrets redacted, at `level` (NEWSQA_LOG_LEVEL; default INFO, DEBUG when
    verbose); verbose also keeps the tracebacks of start-up errors."""
    level = level.upper() or ("DEBUG" if verbose else "INFO")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", secrets))
    if not verbose:
        handler.addFilter(_one_line_start_up_errors)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    # httpx logs every request URL, which contains the token; APScheduler logs every job run.
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _start(application: NewsQAApplication, settings: BotSettings) -> None:
    if settings.mode == "webhook":
        application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=settings.webhook_path,
            webhook_url=settings.webhook_url,
            secret_token=settings.webhook_secret,
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        application.run_polling(
            allowed_updates=Update.ALL_TYPES, timeout=dt.timedelta(seconds=settings.poll_timeout)
        )


def run_bot(settings: BotSettings | None = None, verbose: bool = False) -> int:
    """Run the bot until SIGINT/SIGTERM; returns the process exit code: 0 after a clean stop, 2 for a
    bad setting, 1 for any other start-up failure (`verbose`: with its traceback, and debug logs)."""
    try:
        settings = (settings or BotSettings.from_env()).validate()
    except ConfigError as exc:
        print(f"newsqa bot: {exc}", file=sys.stderr)
        return 2
    secrets = secrets_of(settings)
    configure_logging(secrets, verbose, settings.log_level)
    _started.clear()

    def fail(message: str, exc: BaseException, code: int = 1) -> int:
        if verbose:
            logger.error("Start-up failed", exc_info=exc)
        print(f"newsqa bot: {redact(message, secrets)}", file=sys.stderr)
        return code

    try:
        _start(build_application(settings), settings)
    except InvalidToken as exc:
        return fail("Telegram rejected TELEGRAM_BOT_TOKEN; check the token with @BotFather", exc)
    except NetworkError as exc:
        where = settings.base_url or "api.telegram.org"
        hint = " (TELEGRAM_BASE_URL)" if settings.base_url else ""
        return fail(f"cannot reach the Telegram Bot API at {where}{hint}: {_reason(exc)}", exc)
    except TelegramError as exc:
        return fail(f"the Telegram Bot API refused to start the bot: {_reason(exc)}", exc)
    except ConfigError as exc:
        return fail(str(exc), exc, 2)
    except (NewsQAError, SchemaError) as exc:
        return fail(str(exc), exc)
    except OSError as exc:
        if settings.mode == "webhook" and exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            where = f"{settings.webhook_listen}:{settings.webhook_port}"
            return fail(
                f"cannot listen for webhook updates on {where} "
                f"(NEWSQA_WEBHOOK_LISTEN, NEWSQA_WEBHOOK_PORT): {exc.strerror}",
                exc,
            )
        return fail(f"{exc.strerror or _reason(exc)}: {exc.filename or ''}".rstrip(": "), exc)
    except Exception as exc:  # a bug: still one line, and -v shows where
        return fail(f"start-up failed: {type(exc).__name__}: {_reason(exc)} (newsqa-bot -v shows more)", exc)
    return 0
