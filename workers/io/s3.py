"""S3 and S3-compatible stores: puts are atomic, If-None-Match / If-Match make them conditional.

Settings are the standard AWS ones: credentials from boto3's default chain (environment,
profile, instance role), the endpoint from `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, the
region from `AWS_REGION` / `AWS_DEFAULT_REGION` (default us-east-1). Both clients retry with
AWS's standard strategy.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

from workers.io.storage import AlreadyExists, ConditionFailed, ObjectInfo

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


def is_transient_s3_error(exc: BaseException) -> bool:
    """Throttling, a 5xx or a lost connection that outlived botocore's own retries."""
    try:
        from botocore.exceptions import ClientError, ReadTimeoutError
        from botocore.exceptions import ConnectionError as BotoConnectionError
    except ImportError:
        return False
    if isinstance(exc, (BotoConnectionError, ReadTimeoutError)):
        return True
    if isinstance(exc, ClientError):
        code, status = _error_code(exc)
        return status >= 500 or status == 429 or code in {"SlowDown", "Throttling", "RequestTimeout"}
    return False


def _is_missing(exc: Exception) -> bool:
    code, status = _error_code(exc)
    return status == 404 or code in {"NoSuchKey", "NotFound", "404"}


@contextlib.contextmanager
def _missing_is_not_found(uri: str) -> Iterator[None]:
    """A 404 from S3 becomes FileNotFoundError(uri), as the local store raises it."""
    from botocore.exceptions import ClientError

    try:
        yield
    except ClientError as exc:
        if _is_missing(exc):
            raise FileNotFoundError(uri) from None
        raise


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
        return self.read_versioned(uri)[0]

    def read_versioned(self, uri: str) -> tuple[bytes, str]:
        bucket, key = _split_s3(uri)
        client = self._client()
        with _missing_is_not_found(uri):
            answer = client.get_object(Bucket=bucket, Key=key)
        return answer["Body"].read(), answer["ETag"].strip('"')

    def write_bytes(self, uri: str, data: bytes, *, if_none_match: bool = False, if_match: str | None = None) -> str:
        bucket, key = _split_s3(uri)
        client = self._client()
        condition = {"IfNoneMatch": "*"} if if_none_match else {}
        if if_match is not None:
            condition = {"IfMatch": f'"{if_match}"'}
        try:
            answer = client.put_object(Bucket=bucket, Key=key, Body=data, **condition)
        except client.exceptions.ClientError as exc:
            code, status = _error_code(exc)
            # 412: the object exists; 409: a concurrent conditional write to the same key won.
            failed = status == 412 or code in {"PreconditionFailed", "ConditionalRequestConflict"}
            if failed and if_none_match:
                raise AlreadyExists(uri) from None
            if (failed or _is_missing(exc)) and if_match is not None:
                raise ConditionFailed(uri) from None
            raise
        return answer["ETag"].strip('"')

    def exists(self, uri: str) -> bool:
        try:
            self.stat(uri)
        except FileNotFoundError:
            return False
        return True

    def stat(self, uri: str) -> ObjectInfo:
        bucket, key = _split_s3(uri)
        client = self._client()
        with _missing_is_not_found(uri):
            head = client.head_object(Bucket=bucket, Key=key)
        modified = head.get("LastModified")
        return ObjectInfo(
            uri=uri,
            size=int(head["ContentLength"]),
            mtime_ns=int(modified.timestamp() * 1e9) if modified else None,
            etag=head["ETag"].strip('"'),
        )

    def _items(self, bucket: str, prefix: str, *, limit: int | None = None):
        pages = (
            self._client()
            .get_paginator("list_objects_v2")
            .paginate(
                Bucket=bucket,
                Prefix=prefix,
                PaginationConfig={"PageSize": min(self.page_size, limit or self.page_size), "MaxItems": limit},
            )
        )
        for page in pages:
            yield from page.get("Contents", [])

    def list_objects(self, uri: str) -> list[ObjectInfo]:
        bucket, key = _split_s3(uri)
        prefix = key.rstrip("/") + "/" if key.strip("/") else ""
        found = [
            ObjectInfo(
                uri=f"s3://{bucket}/{item['Key']}",
                size=int(item["Size"]),
                mtime_ns=int(item["LastModified"].timestamp() * 1e9),
                etag=item["ETag"].strip('"'),
            )
            for item in self._items(bucket, prefix)
            if not item["Key"].endswith("/")  # zero-byte "folder" markers some tools create, not files
        ]
        return sorted(found, key=lambda o: o.uri)

    def list_files(self, uri: str) -> list[str]:
        return [o.uri for o in self.list_objects(uri)]

    def download(self, uri: str, path: Path) -> None:
        from boto3.s3.transfer import TransferConfig

        bucket, key = _split_s3(uri)
        client = self._client()
        with _missing_is_not_found(uri):  # ranged multipart GETs streamed to the file: bounded memory
            client.download_file(bucket, key, str(path), Config=TransferConfig(max_concurrency=4))

    def is_dir(self, uri: str) -> bool:
        bucket, key = _split_s3(uri)
        prefix = key.rstrip("/") + "/" if key.strip("/") else ""
        return any(True for _ in self._items(bucket, prefix, limit=1))

    def delete(self, uri: str) -> None:
        bucket, key = _split_s3(uri)
        self._client().delete_object(Bucket=bucket, Key=key)  # absent keys are not an error

    def arrow_filesystem(self, uri: str) -> tuple[pafs.FileSystem, str]:
        bucket, key = _split_s3(uri)
        return _s3_arrow_filesystem(*s3_settings()), f"{bucket}/{key}"
