"""The review store: the only room that writes SQL.

>>> from review_store import Store
>>> with Store("misalign.db") as store:
...     store.status()["prompts"]["total"]
0
"""

from review_store.ids import content_id, normalise_text, prompt_id
from review_store.records import Notes, StageReport
from review_store.schema import SCHEMA_VERSION
from review_store.clock import utc_now, utc_seconds
from review_store.store import APP_READS, Store, StoreError

__all__ = [
    "APP_READS",
    "SCHEMA_VERSION",
    "Notes",
    "StageReport",
    "Store",
    "StoreError",
    "content_id",
    "normalise_text",
    "prompt_id",
    "utc_now",
    "utc_seconds",
]
