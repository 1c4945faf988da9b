"""newsqa retrieval core: ingestion, the haystack pipeline, cited answers and digests.

Knows nothing of Telegram. Telemetry is switched off here, before anything imports haystack,
because haystack reads the setting at import time.
"""

import os

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")

from retriever.models import Answer, ArticleInfo, Citation, Digest, IndexResult

__all__ = ["Answer", "ArticleInfo", "Citation", "Digest", "IndexResult"]
