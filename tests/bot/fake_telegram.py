"""A fake Telegram Bot API server on 127.0.0.1 for end-to-end tests and benchmarks of the bot.

It speaks enough of the Bot API for python-telegram-bot's `Application` (pointed at it with
`base_url`): getMe, getUpdates (with `offset` and long polling), sendMessage, sendChatAction,
setMyCommands, deleteWebhook/setWebhook, answerCallbackQuery, editMessageReplyMarkup, getFile and
file downloads, getChatMember/getChatAdministrators (`set_member_status`), close/logOut. It checks
message HTML the way Telegram does (only supported tags, balanced, `<>&` escaped, at most 4096
characters) and answers 400 otherwise.

Tests inject updates (`send_text`, `send_command`, `send_document`, `send_sticker`, `press_button`,
`migrate_group`, ...), read what the bot sent (`sent`, `messages_to`, `wait_for_messages`), and
script failures: `block` (403 Forbidden), `rate_limit` (429 with retry_after), `migrate` (400 with
migrate_to_chat_id). `flood_limit` makes it answer 429 when the bot sends faster than Telegram allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "123456789:AAEfakeFAKEfake_token-for-tests0000"
BOT_ID = 123456789
BOT_USERNAME = "newsqa_test_bot"

ALLOWED_TAGS = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "blockquote",
        "tg-spoiler",
    }
    | {"span", "tg-emoji"}
)
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "commands",
        "scope",
        "allowed_updates",
        "entities",
        "link_preview_options",
        "reply_parameters",
    }
)
INT_FIELDS = frozenset(
    {"chat_id", "message_id", "offset", "limit", "reply_to_message_id", "from_chat_id", "user_id"}
)


class TelegramHTMLError(ValueError):
    pass


def parse_telegram_html(text: str) -> str:
    """The visible text of a Telegram-HTML message; raises TelegramHTMLError where Telegram would."""
    visible: list[str] = []
    stack: list[str] = []
    position = 0
    for match in _TAG.finditer(text):
        visible.append(_text_between(text[position : match.start()], position))
        closing, name, _attributes = match.group(1), match.group(2).lower(), match.group(3)
        if name not in ALLOWED_TAGS:
            raise TelegramHTMLError(f'Unsupported start tag "{name}" at byte offset {match.start()}')
        if closing:
            if not stack or stack[-1] != name:
                raise TelegramHTMLError(f'Can\'t find end tag corresponding to start tag "{name}"')
            stack.pop()
        else:
            stack.append(name)
        position = match.end()
    visible.append(_text_between(text[position:], position))
    if stack:
        raise TelegramHTMLError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(visible)


def _text_between(chunk: str, offset: int) -> str:
    if "<" in chunk or ">" in chunk:
        raise TelegramHTMLError(
            f"Unexpected < or > at byte offset {offset + max(chunk.find('<'), chunk.find('>'))}"
        )
    for amp in re.finditer("&", chunk):
        if not _ENTITY.match(chunk, amp.start()):
            raise TelegramHTMLError(f"Unsupported entity at byte offset {offset + amp.start()}")
    return html.unescape(chunk)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class SentMessage:
    chat_id: int
    message_id: int
    text: str  # as sent (HTML)
    visible: str  # as Telegram would show it
    parse_mode: str | None
    reply_markup: dict[str, Any] | None
    reply_to: int | None
    at: float


@dataclass
class FakeTelegram:
    """The fake server. `await start()` returns its base URL (for TELEGRAM_BASE_URL)."""

    token: str = TOKEN
    bot_id: int = BOT_ID
    username: str = BOT_USERNAME
    flood_limit: tuple[int, float] | None = None  # (messages, seconds): 429 beyond that
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[SentMessage] = field(default_factory=list)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    rejected: list[tuple[str, dict[str, Any], int, str]] = field(default_factory=list)
    callback_answers: list[dict[str, Any]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    chat_actions: list[tuple[int, str]] = field(default_factory=list)
    commands: list[dict[str, Any]] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    migrated: dict[int, int] = field(default_factory=dict)
    scripted: dict[int, deque[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    latency: float = 0.0  # seconds added to every sendMessage
    # (chat_id, user_id) -> "creator", "administrator", "member", ...; anyone else is a "member"
    member_status: dict[tuple[int, int], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._send_times: deque[float] = deque()
        self.base_url = ""
        self.get_updates_calls = 0
        self._by_chat: dict[int, list[SentMessage]] = {}
        self._chat_events: dict[int, asyncio.Event] = {}

    # -- server ---------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        async with self._changed:
            self._changed.notify_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- users, chats, updates ----------------------------------------------------------------

    @property
    def bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "newsqa", "username": self.username}

    @staticmethod
    def user(user_id: int, language_code: str = "de", first_name: str = "Erika") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language_code}

    @staticmethod
    def chat(chat_id: int, chat_type: str | None = None) -> dict[str, Any]:
        kind = chat_type or (
            "private" if chat_id > 0 else "supergroup" if str(chat_id).startswith("-100") else "group"
        )
        if kind == "private":
            return {"id": chat_id, "type": "private", "first_name": "Erika"}
        return {"id": chat_id, "type": kind, "title": f"Group {chat_id}"}

    def add_update(self, payload: dict[str, Any]) -> int:
        update_id = next(self._ids)
        self.updates.append({"update_id": update_id, **payload})
        asyncio.get_running_loop().create_task(self._notify())
        return update_id

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _message(
        self,
        chat_id: int,
        user_id: int | None,
        language_code: str,
        reply_to: dict[str, Any] | None = None,
        chat_type: str | None = None,
        **content: Any,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": self.chat(chat_id, chat_type),
            "from": self.user(user_id if user_id is not None else abs(chat_id), language_code),
            **content,
        }
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        return message

    def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        language_code: str = "de",
        entities: list[dict[str, Any]] | None = None,
        reply_to: dict[str, Any] | None = None,
        chat_type: str | None = None,
    ) -> dict[str, Any]:
        """Inject a text message; returns the message."""
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        message = self._message(chat_id, user_id, language_code, reply_to, chat_type, **content)
        self.add_update({"message": message})
        return message

    def webhook_update(self, chat_id: int, text: str) -> dict[str, Any]:
        """An update with a text message (a command when it starts with /), for posting to a webhook."""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(text.split()[0])}]
        return {"update_id": next(self._ids), "message": self._message(chat_id, None, "de", **content)}

    def send_command(self, chat_id: int, command: str, args: str = "", **kwargs: Any) -> dict[str, Any]:
        """Inject `/command args` with its bot_command entity."""
        word = command if command.startswith("/") else f"/{command}"
        text = f"{word} {args}".strip()
        entity = {"type": "bot_command", "offset": 0, "length": utf16_len(word)}
        return self.send_text(chat_id, text, entities=[entity], **kwargs)

    def mention(self, chat_id: int, question: str, **kwargs: Any) -> dict[str, Any]:
        """`@bot question` in a group, with the mention entity."""
        handle = f"@{self.username}"
        entity = {"type": "mention", "offset": 0, "length": utf16_len(handle)}
        return self.send_text(chat_id, f"{handle} {question}", entities=[entity], **kwargs)

    def add_file(self, name: str, content: bytes) -> dict[str, Any]:
        file_id = f"file{len(self.files) + 1}"
        self.files[file_id] = (name, content)
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_name": name,
            "file_size": len(content),
        }

    def send_document(
        self,
        chat_id: int,
        name: str,
        content: bytes,
        caption: str | None = None,
        mime_type: str = "text/plain",
        **kwargs: Any,
    ) -> dict[str, Any]:
        document = {**self.add_file(name, content), "mime_type": mime_type}
        extra: dict[str, Any] = {"document": document}
        if caption:
            extra["caption"] = caption
            if caption.startswith("/"):
                word = caption.split()[0]
                extra["caption_entities"] = [{"type": "bot_command", "offset": 0, "length": utf16_len(word)}]
        message = self._message(
            chat_id, kwargs.get("user_id"), kwargs.get("language_code", "de"), kwargs.get("reply_to"), **extra
        )
        self.add_update({"message": message})
        return message

    def send_sticker(self, chat_id: int, **kwargs: Any) -> dict[str, Any]:
        sticker = {
            "file_id": "sticker1",
            "file_unique_id": "usticker1",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
        }
        message = self._message(
            chat_id, kwargs.get("user_id"), kwargs.get("language_code", "de"), sticker=sticker
        )
        self.add_update({"message": message})
        return message

    def send_photo(self, chat_id: int, **kwargs: Any) -> dict[str, Any]:
        photo = [
            {"file_id": "photo1", "file_unique_id": "uphoto1", "width": 90, "height": 90, "file_size": 1000}
        ]
        message = self._message(
            chat_id, kwargs.get("user_id"), kwargs.get("language_code", "de"), photo=photo
        )
        self.add_update({"message": message})
        return message

    def send_voice(self, chat_id: int, **kwargs: Any) -> dict[str, Any]:
        voice = {"file_id": "voice1", "file_unique_id": "uvoice1", "duration": 3, "mime_type": "audio/ogg"}
        message = self._message(
            chat_id, kwargs.get("user_id"), kwargs.get("language_code", "de"), voice=voice
        )
        self.add_update({"message": message})
        return message

    def press_button(
        self,
        chat_id: int,
        message_id: int,
        data: str,
        language_code: str = "de",
        user_id: int | None = None,
    ) -> int:
        original = next(m for m in self.sent if m.message_id == message_id)
        query = {
            "id": f"cb{next(self._ids)}",
            "from": self.user(user_id if user_id is not None else abs(chat_id), language_code),
            "chat_instance": f"ci{chat_id}",
            "data": data,
            "message": {
                "message_id": message_id,
                "date": int(time.time()),
                "chat": self.chat(chat_id),
                "from": self.bot_user,
                "text": original.visible,
            },
        }
        return self.add_update({"callback_query": query})

    def bot_status_changed(self, chat_id: int, status: str) -> int:
        """my_chat_member: the user blocked ('kicked') or restarted ('member') the bot."""
        member: dict[str, Any] = {"status": status, "user": self.bot_user}
        if status == "kicked":
            member["until_date"] = 0
        return self.add_update(
            {
                "my_chat_member": {
                    "chat": self.chat(chat_id),
                    "from": self.user(abs(chat_id)),
                    "date": int(time.time()),
                    "old_chat_member": {"status": "member", "user": self.bot_user},
                    "new_chat_member": member,
                }
            }
        )

    def migrate_group(self, old_chat_id: int, new_chat_id: int, user_id: int = 1) -> None:
        """A group upgraded to a supergroup: both service messages (migrate_to_chat_id in the old
        group, migrate_from_chat_id in the new supergroup), delivered in one getUpdates batch."""
        self.migrated[old_chat_id] = new_chat_id
        for chat_id, content in (
            (old_chat_id, {"migrate_to_chat_id": new_chat_id}),
            (new_chat_id, {"migrate_from_chat_id": old_chat_id}),
        ):
            update_id = next(self._ids)
            message = self._message(chat_id, user_id, "de", **content)
            self.updates.append({"update_id": update_id, "message": message})
        asyncio.get_running_loop().create_task(self._notify())

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """What getChatMember answers for the user in the chat ("creator", "administrator", ...)."""
        self.member_status[(chat_id, user_id)] = status

    # -- scripted failures ----------------------------------------------------------------------

    def block(self, chat_id: int) -> None:
        """Every message to the chat fails with 403 (the user blocked the bot)."""
        self.blocked.add(chat_id)

    def migrate(self, chat_id: int, new_chat_id: int) -> None:
        """Every message to the group fails with 400 migrate_to_chat_id."""
        self.migrated[chat_id] = new_chat_id

    def rate_limit(self, chat_id: int, retry_after: int = 1, times: int = 1) -> None:
        """The next `times` messages to the chat fail with 429 retry_after."""
        queue = self.scripted.setdefault(chat_id, deque())
        for _ in range(times):
            queue.append(
                (
                    429,
                    {
                        "description": f"Too Many Requests: retry after {retry_after}",
                        "parameters": {"retry_after": retry_after},
                    },
                )
            )

    def fail_next(self, chat_id: int, status: int, description: str) -> None:
        self.scripted.setdefault(chat_id, deque()).append((status, {"description": description}))

    # -- inspection -----------------------------------------------------------------------------

    def messages_to(self, chat_id: int) -> list[SentMessage]:
        return list(self._by_chat.get(chat_id, ()))

    async def wait_for(self, predicate: Callable[[], bool], within: float = 15.0) -> None:
        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(predicate)

        await asyncio.wait_for(until(), within)

    async def wait_for_messages(
        self, chat_id: int, count: int = 1, within: float = 15.0
    ) -> list[SentMessage]:
        """Wait until the bot sent at least `count` messages to the chat; returns them all."""
        deadline = asyncio.get_running_loop().time() + within
        while len(self._by_chat.get(chat_id, ())) < count:
            left = deadline - asyncio.get_running_loop().time()
            event = self._chat_events.setdefault(chat_id, asyncio.Event())
            try:
                await asyncio.wait_for(event.wait(), max(left, 0.0))
            except TimeoutError:
                raise AssertionError(
                    f"expected {count} message(s) to {chat_id}, "
                    f"got {[m.visible for m in self.messages_to(chat_id)]}; rejected: {self.rejected[-3:]}"
                ) from None
        return self.messages_to(chat_id)

    async def reply_to(self, chat_id: int, send: Callable[[], object], within: float = 15.0) -> SentMessage:
        """Inject something (by calling `send`) and return the bot's next message to that chat."""
        before = len(self.messages_to(chat_id))
        send()
        return (await self.wait_for_messages(chat_id, before + 1, within))[before]

    def max_per_window(self, window: float = 1.0, messages: list[SentMessage] | None = None) -> int:
        """The most messages (default: all sent) that arrived within any `window` seconds."""
        times = sorted(m.at for m in (self.sent if messages is None else messages))
        best, start = 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    # -- request handling -----------------------------------------------------------------------

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        raw: dict[str, Any]
        if request.content_type == "application/json":
            raw = await request.json() if request.can_read_body else {}
        else:
            raw = dict(await request.post())
        raw.update({k: v for k, v in request.query.items() if k not in raw})
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if isinstance(value, str) and key in JSON_FIELDS:
                value = json.loads(value)
            elif isinstance(value, str) and key in INT_FIELDS:
                value = int(value)
            elif isinstance(value, str) and key == "timeout":
                value = float(value)
            params[key] = value
        return params

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    def _error(
        self, method: str, params: dict[str, Any], status: int, payload: dict[str, Any]
    ) -> web.Response:
        self.rejected.append((method, params, status, payload.get("description", "")))
        return web.json_response({"ok": False, "error_code": status, **payload}, status=status)

    async def _handle_method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        method = request.match_info["method"]
        params = await self._params(request)
        self.requests.append((method, params))
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return self._error(method, params, 404, {"description": "Not Found: method not found"})
        response: web.Response = await handler(params)
        if method != "getUpdates":
            await self._notify()  # waiters re-check after every call the bot makes
        return response

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        file_id = request.match_info["path"].split("/")[1] if "/" in request.match_info["path"] else ""
        if file_id not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id][1])

    async def _api_getMe(self, params: dict[str, Any]) -> web.Response:
        return self._ok({**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False})

    async def _api_getUpdates(self, params: dict[str, Any]) -> web.Response:
        self.get_updates_calls += 1
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]  # confirmed ones are gone

        def pending() -> list[dict[str, Any]]:
            return [u for u in self.updates if u["update_id"] >= offset][:limit]

        if not pending() and timeout > 0:
            with contextlib.suppress(TimeoutError):
                await self.wait_for(lambda: bool(pending()), timeout)
        return self._ok(pending())

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = {}
        return self._ok(True)

    async def _api_setWebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook = dict(params)
        return self._ok(True)

    async def _api_setMyCommands(self, params: dict[str, Any]) -> web.Response:
        self.commands.append(params)
        return self._ok(True)

    async def _api_sendChatAction(self, params: dict[str, Any]) -> web.Response:
        self.chat_actions.append((int(params["chat_id"]), str(params.get("action"))))
        return self._ok(True)

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> web.Response:
        self.callback_answers.append(params)
        return self._ok(True)

    def _member(self, chat_id: int, user_id: int) -> dict[str, Any]:
        status = self.member_status.get((chat_id, user_id), "member")
        user = self.bot_user if user_id == self.bot_id else self.user(user_id)
        member: dict[str, Any] = {"status": status, "user": user}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(
                {
                    key: True
                    for key in (
                        "can_be_edited",
                        "is_anonymous",
                        "can_manage_chat",
                        "can_delete_messages",
                        "can_manage_video_chats",
                        "can_restrict_members",
                        "can_promote_members",
                        "can_change_info",
                        "can_invite_users",
                        "can_post_stories",
                        "can_edit_stories",
                        "can_delete_stories",
                    )
                }
            )
            member["is_anonymous"] = False
        return member

    async def _api_getChatMember(self, params: dict[str, Any]) -> web.Response:
        chat_id, user_id = int(params["chat_id"]), int(params["user_id"])
        if chat_id > 0 and chat_id != user_id:
            return self._error("getChatMember", params, 400, {"description": "Bad Request: user not found"})
        return self._ok(self._member(chat_id, user_id))

    async def _api_getChatAdministrators(self, params: dict[str, Any]) -> web.Response:
        chat_id = int(params["chat_id"])
        admins = [
            self._member(chat, user)
            for (chat, user), status in self.member_status.items()
            if chat == chat_id and status in ("creator", "administrator")
        ]
        return self._ok(admins)

    async def _api_close(self, params: dict[str, Any]) -> web.Response:
        return self._ok(True)

    async def _api_logOut(self, params: dict[str, Any]) -> web.Response:
        return self._ok(True)

    async def _api_getFile(self, params: dict[str, Any]) -> web.Response:
        file_id = str(params.get("file_id"))
        if file_id not in self.files:
            return self._error("getFile", params, 400, {"description": "Bad Request: invalid file_id"})
        name, content = self.files[file_id]
        return self._ok(
            {
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "file_size": len(content),
                "file_path": f"documents/{file_id}/{name}",
            }
        )

    async def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> web.Response:
        self.edits.append(params)
        original = next((m for m in self.sent if m.message_id == params.get("message_id")), None)
        if original is None:
            return self._error(
                "editMessageReplyMarkup", params, 400, {"description": "Bad Request: message not found"}
            )
        original.reply_markup = params.get("reply_markup")
        return self._ok(self._message_json(original))

    def _message_json(self, message: SentMessage) -> dict[str, Any]:
        result: dict[str, Any] = {
            "message_id": message.message_id,
            "date": int(time.time()),
            "chat": self.chat(message.chat_id),
            "from": self.bot_user,
            "text": message.visible,
        }
        if message.reply_markup:
            result["reply_markup"] = message.reply_markup
        return result

    async def _api_sendMessage(self, params: dict[str, Any]) -> web.Response:
        chat_id = int(params["chat_id"])
        if self.latency:
            await asyncio.sleep(self.latency)
        if chat_id in self.blocked:
            return self._error(
                "sendMessage", params, 403, {"description": "Forbidden: bot was blocked by the user"}
            )
        if chat_id in self.migrated:
            return self._error(
                "sendMessage",
                params,
                400,
                {
                    "description": "Bad Request: group chat was upgraded to a supergroup chat",
                    "parameters": {"migrate_to_chat_id": self.migrated[chat_id]},
                },
            )
        script = self.scripted.get(chat_id)
        if script:
            status, payload = script.popleft()
            return self._error("sendMessage", params, status, payload)
        now = time.monotonic()
        if self.flood_limit is not None:
            limit, window = self.flood_limit
            while self._send_times and now - self._send_times[0] >= window:
                self._send_times.popleft()
            if len(self._send_times) >= limit:
                return self._error(
                    "sendMessage",
                    params,
                    429,
                    {"description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}},
                )
            self._send_times.append(now)
        text = str(params.get("text", ""))
        parse_mode = params.get("parse_mode")
        try:
            visible = parse_telegram_html(text) if parse_mode == "HTML" else text
        except TelegramHTMLError as exc:
            return self._error(
                "sendMessage", params, 400, {"description": f"Bad Request: can't parse entities: {exc}"}
            )
        if not visible.strip():
            return self._error(
                "sendMessage", params, 400, {"description": "Bad Request: message text is empty"}
            )
        if utf16_len(visible) > 4096:
            return self._error(
                "sendMessage", params, 400, {"description": "Bad Request: message is too long"}
            )
        reply_parameters = params.get("reply_parameters") or {}
        message = SentMessage(
            chat_id=chat_id,
            message_id=next(self._message_ids),
            text=text,
            visible=visible,
            parse_mode=parse_mode,
            reply_markup=params.get("reply_markup"),
            reply_to=reply_parameters.get("message_id") or params.get("reply_to_message_id"),
            at=now,
        )
        self.sent.append(message)
        self._by_chat.setdefault(chat_id, []).append(message)
        event = self._chat_events.pop(chat_id, None)
        if event is not None:
            event.set()
        return self._ok(self._message_json(message))
