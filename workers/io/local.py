"""The local filesystem as a store: atomic writes by rename, If-None-Match by hard link, If-Match
by comparing the content's hash under an exclusive lock."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

from workers.io.storage import AlreadyExists, ConditionFailed, ObjectInfo


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path`'s directory, for local compare-and-swap (no lock file is left
    beside the object for listings to find)."""
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class LocalStorage:
    """The local filesystem; atomic writes by rename, conditional writes by hard link."""

    @staticmethod
    def _path(uri: str) -> Path:
        return Path(urlparse(uri).path if uri.startswith("file://") else uri)

    def read_bytes(self, uri: str) -> bytes:
        return self._path(uri).read_bytes()

    def read_versioned(self, uri: str) -> tuple[bytes, str]:
        data = self._path(uri).read_bytes()
        return data, _content_version(data)

    def write_bytes(self, uri: str, data: bytes, *, if_none_match: bool = False, if_match: str | None = None) -> str:
        path = self._path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        if if_match is not None:
            # The version is the content's hash: compared and replaced under one lock.
            with _locked(path):
                try:
                    current = _content_version(path.read_bytes())
                except FileNotFoundError:
                    raise ConditionFailed(uri) from None
                if current != if_match:
                    raise ConditionFailed(uri)
                return self.write_bytes(uri, data)
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
        return _content_version(data)

    def exists(self, uri: str) -> bool:
        return self._path(uri).exists()

    def stat(self, uri: str) -> ObjectInfo:
        result = self._path(uri).stat()
        return ObjectInfo(uri=uri, size=result.st_size, mtime_ns=result.st_mtime_ns)

    def list_objects(self, uri: str) -> list[ObjectInfo]:
        root = self._path(uri)
        if not root.is_dir():
            return []
        found = []
        for path in root.rglob("*"):
            try:
                info = path.stat()
            except FileNotFoundError:  # deleted while listing
                continue
            if path.is_file():
                found.append(ObjectInfo(uri=str(path), size=info.st_size, mtime_ns=info.st_mtime_ns))
        return sorted(found, key=lambda o: o.uri)

    def list_files(self, uri: str) -> list[str]:
        return [o.uri for o in self.list_objects(uri)]

    def download(self, uri: str, path: Path) -> None:
        shutil.copyfile(self._path(uri), path)

    def is_dir(self, uri: str) -> bool:
        return self._path(uri).is_dir()

    def delete(self, uri: str) -> None:
        self._path(uri).unlink(missing_ok=True)

    def arrow_filesystem(self, uri: str) -> tuple[pafs.FileSystem, str]:
        return pafs.LocalFileSystem(), str(self._path(uri).resolve())


def _content_version(data: bytes) -> str:
    """The local store's version token: a hash of the content (mtime and size can repeat)."""
    return hashlib.sha256(data).hexdigest()
