"""Storage behind one small interface, chosen by URI scheme.

Everything outside `workers.io` speaks URIs. Local paths and `file://` URIs map to the local
filesystem; `s3://bucket/prefix` maps to S3 or any S3-compatible store. boto3 and pyarrow
filesystems appear in this package only.

S3 settings are the standard AWS ones: credentials from boto3's default chain (environment,
profile, instance role), the endpoint from `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, the
region from `AWS_REGION` / `AWS_DEFAULT_REGION` (default us-east-1).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import tempfile
import threading
from collections.abc import Iterator
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
    """Identity of a stored object: size plus whichever version marker the store offers."""

    uri: str
    size: int
    mtime_ns: int | None = None
    etag: str | None = None

    @property
    def version(self) -> str:
        """A token that changes whenever the object is rewritten (for if_match)."""
        return self.etag or f"{self.mtime_ns}:{self.size}"


class Storage(Protocol):
    """The operations pressroom needs from a store."""

    def read_bytes(self, uri: str) -> bytes: ...

    def write_bytes(
        self, uri: str, data: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> None:
        """Write atomically. if_none_match: raise AlreadyExists if the object exists. if_match:
        raise ConditionFailed unless the object's current `ObjectInfo.version` equals it."""

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


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside `path`, for local compare-and-swap."""
    with open(path.parent / f".{path.name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class LocalStorage:
    """The local filesystem; atomic writes by rename, conditional writes by hard link."""

    @staticmethod
    def _path(uri: str) -> Path:
        return Path(urlparse(uri).path if uri.startswith("file://") else uri)

    def read_bytes(self, uri: str) -> bytes:
        return self._path(uri).read_bytes()

    def write_bytes(
        self, uri: str, data: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> None:
        path = self._path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        if if_match is not None:
            with _locked(path):
                if not path.exists() or self.stat(uri).version != if_match:
                    raise ConditionFailed(uri)
                self.write_bytes(uri, data)
            return
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


S3_MAX_ATTEMPTS = 10  # first try included; botocore and pyarrow both use the AWS "standard" mode


class _RetryCounter:
    """Retries boto3 made in this process (pyarrow's own retries are not observable)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def add(self, parsed: dict | None = None, **_: object) -> None:
        retries = ((parsed or {}).get("ResponseMetadata") or {}).get("RetryAttempts", 0)
        if retries:
            with self._lock:
                self._count += retries

    @property
    def count(self) -> int:
        return self._count


S3_RETRIES = _RetryCounter()


def s3_settings() -> tuple[str | None, str]:
    """(endpoint URL or None for AWS, region) from the standard AWS environment variables."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return endpoint, region


_CLIENT_LOCK = threading.Lock()


def _s3_client(endpoint: str | None, region: str):
    """One boto3 client per (endpoint, region) per process; clients are thread-safe."""
    with _CLIENT_LOCK:  # creating boto3 sessions is not thread-safe
        return _new_s3_client(endpoint, region)


@functools.cache
def _new_s3_client(endpoint: str | None, region: str):
    import boto3
    from botocore.config import Config

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        config=Config(
            retries={"mode": "standard", "max_attempts": S3_MAX_ATTEMPTS},
            max_pool_connections=32,  # threads share the client; urllib3's default is 10
        ),
    )
    client.meta.events.register("after-call.s3", S3_RETRIES.add)
    return client


@functools.cache
def _s3_arrow_filesystem(endpoint: str | None, region: str) -> pafs.S3FileSystem:
    """pyarrow's S3 filesystem; credentials stay in the AWS SDK's chain, never in its pickle."""
    options: dict = {}
    if endpoint:  # pyarrow ignores AWS_ENDPOINT_URL: pass it explicitly
        parsed = urlparse(endpoint)
        options = {"endpoint_override": parsed.netloc + parsed.path.rstrip("/"), "scheme": parsed.scheme or "https"}
    return pafs.S3FileSystem(
        region=region,
        retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=S3_MAX_ATTEMPTS),
        **options,
    )


def _split_s3(uri: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// URI; the key has no leading slash."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
    return parsed.netloc, parsed.path.lstrip("/")


def _error_code(exc: Exception) -> tuple[str, int]:
    response = getattr(exc, "response", None) or {}
    code = str((response.get("Error") or {}).get("Code", ""))
    status = int((response.get("ResponseMetadata") or {}).get("HTTPStatusCode", 0))
    return code, status


def _is_missing(exc: Exception) -> bool:
    code, status = _error_code(exc)
    return status == 404 or code in {"NoSuchKey", "NotFound", "404"}


class S3Storage:
    """S3 or an S3-compatible store: puts are atomic, If-None-Match makes them conditional."""

    def __init__(self, *, page_size: int = 1000) -> None:
        self.page_size = page_size  # keys per ListObjectsV2 page; 1000 is S3's maximum

    def __repr__(self) -> str:
        endpoint, region = s3_settings()
        where = f"{urlparse(endpoint).hostname}:{urlparse(endpoint).port or ''}" if endpoint else "aws"
        return f"S3Storage(endpoint={where!r}, region={region!r})"  # never userinfo or keys

    @staticmethod
    def _client():
        return _s3_client(*s3_settings())

    def read_bytes(self, uri: str) -> bytes:
        bucket, key = _split_s3(uri)
        client = self._client()
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except client.exceptions.ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(uri) from None
            raise

    def write_bytes(
        self, uri: str, data: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> None:
        bucket, key = _split_s3(uri)
        client = self._client()
        condition = {"IfNoneMatch": "*"} if if_none_match else {}
        if if_match is not None:
            condition = {"IfMatch": f'"{if_match}"'}
        try:
            client.put_object(Bucket=bucket, Key=key, Body=data, **condition)
        except client.exceptions.ClientError as exc:
            code, status = _error_code(exc)
            # 412: the object exists; 409: a concurrent conditional write to the same key won.
            failed = status == 412 or code in {"PreconditionFailed", "ConditionalRequestConflict"}
            if failed and if_none_match:
                raise AlreadyExists(uri) from None
            if (failed or _is_missing(exc)) and if_match is not None:
                raise ConditionFailed(uri) from None
            raise

    def exists(self, uri: str) -> bool:
        try:
            self.stat(uri)
        except FileNotFoundError:
            return False
        return True

    def stat(self, uri: str) -> ObjectInfo:
        bucket, key = _split_s3(uri)
        client = self._client()
        try:
            head = client.head_object(Bucket=bucket, Key=key)
        except client.exceptions.ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(uri) from None
            raise
        modified = head.get("LastModified")
        return ObjectInfo(
            uri=uri,
            size=int(head["ContentLength"]),
            mtime_ns=int(modified.timestamp() * 1e9) if modified else None,
            etag=head["ETag"].strip('"'),
        )

    def _keys(self, bucket: str, prefix: str, *, limit: int | None = None):
        pages = self._client().get_paginator("list_objects_v2").paginate(
            Bucket=bucket,
            Prefix=prefix,
            PaginationConfig={"PageSize": min(self.page_size, limit or self.page_size), "MaxItems": limit},
        )
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"]

    def list_files(self, uri: str) -> list[str]:
        bucket, key = _split_s3(uri)
        prefix = key.rstrip("/") + "/" if key.strip("/") else ""
        # Keys ending in "/" are zero-byte "folder" markers some tools create, not files.
        return sorted(f"s3://{bucket}/{k}" for k in self._keys(bucket, prefix) if not k.endswith("/"))

    def is_dir(self, uri: str) -> bool:
        bucket, key = _split_s3(uri)
        prefix = key.rstrip("/") + "/" if key.strip("/") else ""
        return any(True for _ in self._keys(bucket, prefix, limit=1))

    def delete(self, uri: str) -> None:
        bucket, key = _split_s3(uri)
        self._client().delete_object(Bucket=bucket, Key=key)  # absent keys are not an error

    def arrow_filesystem(self, uri: str) -> tuple[pafs.FileSystem, str]:
        bucket, key = _split_s3(uri)
        return _s3_arrow_filesystem(*s3_settings()), f"{bucket}/{key}"


# scheme -> storage class; "" is a plain local path.
SCHEMES: dict[str, type] = {"": LocalStorage, "file": LocalStorage, "s3": S3Storage}


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
