"""The bot's rate limiter: PTB's `AIORateLimiter`, with "typing" indicators exempt from the quota.

All requests still pass through `AIORateLimiter`, so a `RetryAfter` from Telegram pauses every
request and is retried after the given delay. Messages count against the overall limit (30 per
second, Telegram's broadcast limit) and the per-group limit (20 per minute). `sendChatAction` is
cosmetic and sent once per question right before the answer; counting it would halve the number of
answers per second, so it skips the quotas (it still waits out a pending `RetryAfter`).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram.ext import AIORateLimiter

JSONDict = dict[str, Any]

UNMETERED_ENDPOINTS = frozenset({"sendChatAction"})


class NewsQARateLimiter(AIORateLimiter):
    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | JSONDict | list[JSONDict]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | JSONDict | list[JSONDict]:
        if endpoint in UNMETERED_ENDPOINTS:
            # Without a chat id the limiter applies neither the overall nor the group quota.
            data = {key: value for key, value in data.items() if key != "chat_id"}
        return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
