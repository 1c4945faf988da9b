"""Shared test settings: never touch the network, never touch the user's real data dir."""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"
os.environ.pop("NEWSQA_READER_MODEL", None)
os.environ.pop("NEWSQA_DOCUMENT_STORE", None)
os.environ.pop("NEWSQA_DATABASE_URL", None)
