"""Storage by URI scheme (local disk, S3) and the Parquet reads of shards.

boto3 and pyarrow filesystems appear under this package only; everything else speaks URIs.
"""

from workers.io.parquet import UNIT_SHARDS, open_parquet, read_shard, read_shards, read_units
from workers.io.storage import (
    S3_RETRIES,
    SCHEMES,
    AlreadyExists,
    ConditionFailed,
    LocalStorage,
    ObjectInfo,
    S3Storage,
    Storage,
    join,
    s3_settings,
    scheme_of,
    storage_for,
)

__all__ = [
    "S3_RETRIES", "SCHEMES", "UNIT_SHARDS", "AlreadyExists", "ConditionFailed", "LocalStorage", "ObjectInfo",
    "S3Storage", "Storage", "join", "open_parquet", "read_shard", "read_shards", "read_units", "s3_settings",
    "scheme_of", "storage_for",
]
