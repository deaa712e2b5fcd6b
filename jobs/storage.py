"""Storage behind one small interface, chosen by URI scheme.

Everything outside this module speaks URIs. Local paths and `file://` URIs map to the local
filesystem; object storage schemes register here too.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

import pyarrow.fs as pafs


class AlreadyExists(Exception):
    """A conditional write found the object already there."""


@dataclass(frozen=True)
class ObjectInfo:
    """Identity of a stored object: size plus whichever version marker the store offers."""

    uri: str
    size: int
    mtime_ns: int | None = None
    etag: str | None = None


class Storage(Protocol):
    """The operations pressroom needs from a store."""

    def read_bytes(self, uri: str) -> bytes: ...

    def write_bytes(self, uri: str, data: bytes, *, if_none_match: bool = False) -> None:
        """Write atomically; with if_none_match, raise AlreadyExists if the object exists."""

    def exists(self, uri: str) -> bool: ...

    def stat(self, uri: str) -> ObjectInfo:
        """Raises FileNotFoundError if absent."""

    def list_files(self, uri: str) -> list[str]:
        """URIs of all files under a directory/prefix, sorted; [] if none."""

    def is_dir(self, uri: str) -> bool: ...

    def delete(self, uri: str) -> None: ...

    def arrow_filesystem(self, uri: str) -> tuple[pafs.FileSystem, str]:
        """A pyarrow filesystem and the path within it, for Parquet reads."""


def join(base: str, *parts: str) -> str:
    """Join URI path parts with '/', whatever the scheme."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


class LocalStorage:
    """The local filesystem; atomic writes by rename, conditional writes by hard link."""

    @staticmethod
    def _path(uri: str) -> Path:
        return Path(urlparse(uri).path if uri.startswith("file://") else uri)

    def read_bytes(self, uri: str) -> bytes:
        return self._path(uri).read_bytes()

    def write_bytes(self, uri: str, data: bytes, *, if_none_match: bool = False) -> None:
        path = self._path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            if if_none_match:
                try:
                    os.link(tmp, path)  # fails if the name exists: the local If-None-Match
                except FileExistsError:
                    raise AlreadyExists(uri) from None
            else:
                os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def exists(self, uri: str) -> bool:
        return self._path(uri).exists()

    def stat(self, uri: str) -> ObjectInfo:
        result = self._path(uri).stat()
        return ObjectInfo(uri=uri, size=result.st_size, mtime_ns=result.st_mtime_ns)

    def list_files(self, uri: str) -> list[str]:
        root = self._path(uri)
        if not root.is_dir():
            return []
        return sorted(str(p) for p in root.rglob("*") if p.is_file())

    def is_dir(self, uri: str) -> bool:
        return self._path(uri).is_dir()

    def delete(self, uri: str) -> None:
        self._path(uri).unlink(missing_ok=True)

    def arrow_filesystem(self, uri: str) -> tuple[pafs.FileSystem, str]:
        return pafs.LocalFileSystem(), str(self._path(uri).resolve())


# scheme -> storage class; "" is a plain local path.
SCHEMES: dict[str, type] = {"": LocalStorage, "file": LocalStorage}


def scheme_of(uri: str) -> str:
    """The URI's scheme, '' for a plain path."""
    parsed = urlparse(uri)
    return parsed.scheme if len(parsed.scheme) > 1 else ""  # "C:" is a drive, not a scheme


def storage_for(uri: str) -> Storage:
    """The storage that serves this URI."""
    scheme = scheme_of(uri)
    try:
        return SCHEMES[scheme]()
    except KeyError:
        known = ", ".join(sorted(s for s in SCHEMES if s))
        raise ValueError(f"unsupported URI scheme {scheme!r} in {uri!r} (known: {known})") from None
