"""Storage behind one small interface, chosen by URI scheme.

Everything outside `workers.io` speaks URIs. Local paths and `file://` URIs map to the local
filesystem; `s3://bucket/prefix` maps to S3 or any S3-compatible store. boto3 and pyarrow
filesystems appear in this package only (`local.py`, `s3.py`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import pyarrow.fs as pafs


class ConditionFailed(Exception):
    """A conditional write's precondition did not hold; nothing was written."""


class AlreadyExists(ConditionFailed):
    """A write with if_none_match found the object already there."""


@dataclass(frozen=True)
class ObjectInfo:
    """Metadata of a stored object: size, modification time, and the store's ETag if it has one."""

    uri: str
    size: int
    mtime_ns: int | None = None
    etag: str | None = None

    @property
    def identity(self) -> str:
        """Changes when the object is rewritten, as far as its metadata shows (cache keys, not CAS)."""
        return self.etag or f"{self.mtime_ns}:{self.size}"


class Storage(Protocol):
    """The operations pressroom needs from a store."""

    def read_bytes(self, uri: str) -> bytes: ...

    def read_versioned(self, uri: str) -> tuple[bytes, str]:
        """The object's bytes and the version token `write_bytes(if_match=...)` compares, read
        together. Raises FileNotFoundError if absent."""

    def write_bytes(self, uri: str, data: bytes, *, if_none_match: bool = False, if_match: str | None = None) -> str:
        """Write atomically and return the new version token. if_none_match: raise AlreadyExists
        if the object exists. if_match: raise ConditionFailed unless the object's current
        version (from `read_versioned` or an earlier write) equals it."""

    def exists(self, uri: str) -> bool: ...

    def stat(self, uri: str) -> ObjectInfo:
        """Raises FileNotFoundError if absent."""

    def list_objects(self, uri: str) -> list[ObjectInfo]:
        """Every object under a directory/prefix with its metadata, sorted by URI; [] if none.
        One listing: no request per object."""

    def list_files(self, uri: str) -> list[str]:
        """URIs of all files under a directory/prefix, sorted; [] if none."""

    def download(self, uri: str, path: Path) -> None:
        """Copy an object to a local file, streaming (bounded memory)."""

    def is_dir(self, uri: str) -> bool: ...

    def delete(self, uri: str) -> None: ...

    def arrow_filesystem(self, uri: str) -> tuple[pafs.FileSystem, str]:
        """A pyarrow filesystem and the path within it, for Parquet reads."""


def join(base: str, *parts: str) -> str:
    """Join URI path parts with '/', whatever the scheme."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


# scheme -> "module:Class"; "" is a plain local path. A new scheme is one module and one line here.
SCHEMES: dict[str, str] = {
    "": "workers.io.local:LocalStorage",
    "file": "workers.io.local:LocalStorage",
    "s3": "workers.io.s3:S3Storage",
}


def is_transient(exc: BaseException) -> bool:
    """Whether a storage failure may pass on a retry (connection trouble, throttling, 5xx); a
    refused precondition, a missing object or a permission error never does."""
    if isinstance(exc, (ConditionFailed, FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    from workers.io.s3 import is_transient_s3_error  # botocore only when S3 is in use

    return is_transient_s3_error(exc)


def scheme_of(uri: str) -> str:
    """The URI's scheme, '' for a plain path."""
    parsed = urlparse(uri)
    return parsed.scheme if len(parsed.scheme) > 1 else ""  # "C:" is a drive, not a scheme


def storage_for(uri: str) -> Storage:
    """The storage that serves this URI."""
    scheme = scheme_of(uri)
    try:
        target = SCHEMES[scheme]
    except KeyError:
        known = ", ".join(sorted(s for s in SCHEMES if s))
        raise ValueError(f"unsupported URI scheme {scheme!r} in {uri!r} (known: {known})") from None
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)()
