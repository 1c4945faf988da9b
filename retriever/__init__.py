"""newsqa retrieval core: ingestion, the haystack pipeline, cited answers and digests.

Knows nothing of Telegram. Telemetry is switched off here, before anything imports haystack,
because haystack reads the setting at import time.
"""

import os

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
# The e5 engine runs on OpenMP. With the default (spinning) wait policy a query takes ~0.8 s instead
# of ~25 ms as soon as another process uses the other core (measured on 2 cores): idle OpenMP
# threads must sleep, not spin. Read when the engine loads, so it is set before any model loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from retriever.models import Answer, ArticleInfo, Citation, Digest, IndexResult

__all__ = ["Answer", "ArticleInfo", "Citation", "Digest", "IndexResult"]
