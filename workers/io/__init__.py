"""Storage by URI scheme (local disk, S3) and the Parquet reads of shards.

boto3 and pyarrow filesystems appear under this package only; everything else speaks URIs.
"""

from workers.io.local import LocalStorage
from workers.io.parquet import UNIT_SHARDS, open_parquet, read_shard, read_shards, read_units
from workers.io.s3 import S3_RETRIES, S3Storage, s3_settings
from workers.io.storage import (
    SCHEMES,
    AlreadyExists,
    ConditionFailed,
    ObjectInfo,
    Storage,
    is_transient,
    join,
    scheme_of,
    storage_for,
)

__all__ = [
    "S3_RETRIES",
    "SCHEMES",
    "UNIT_SHARDS",
    "AlreadyExists",
    "ConditionFailed",
    "LocalStorage",
    "ObjectInfo",
    "S3Storage",
    "Storage",
    "is_transient",
    "join",
    "open_parquet",
    "read_shard",
    "read_shards",
    "read_units",
    "s3_settings",
    "scheme_of",
    "storage_for",
]
