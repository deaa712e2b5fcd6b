"""Images for the render stage: each row's image bytes (inline, or read from a path or URI), checked.

A null value or a path that names nothing is `image_missing`; bytes PIL cannot open and decode
are `image_unreadable`. Good images travel on as their original bytes; engines decode them.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from schemas.rows import ErrorCode
from workers.io import scheme_of, storage_for

# Errors that mean "nothing is there" rather than "storage is failing" (the latter should raise).
_MISSING = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


@dataclass(frozen=True)
class LoadedImage:
    """One row's image bytes, or why there are none."""

    data: bytes | None
    error_code: str | None = None
    error_message: str | None = None


def resolve_image_uri(value: str, *, input_file: str) -> str:
    """URIs and absolute paths stay; a relative path resolves against the input file's directory."""
    if scheme_of(value) or Path(value).is_absolute():
        return value
    if scheme_of(input_file):  # s3://bucket/dir/file.parquet: join with URI (posix) rules
        return posixpath.join(posixpath.dirname(input_file), value)
    return str(Path(input_file).parent / value)


def check_image(data: bytes) -> str | None:
    """None if PIL can open, verify and decode the bytes, else a one-line reason."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()  # structure and checksums; the image object is unusable afterwards
        with Image.open(io.BytesIO(data)) as image:
            image.load()  # full decode: catches truncated pixel data that verify() lets through
    except UnidentifiedImageError:
        return "not in an image format PIL recognizes"
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, ValueError, ...)
        detail = (str(exc).strip().splitlines() or ["cannot decode"])[0]
        return f"{type(exc).__name__}: {detail}"
    return None


def _read(value: str, *, input_file: str) -> LoadedImage:
    if not value.strip():
        return LoadedImage(None, ErrorCode.IMAGE_MISSING.value, "the image path is empty")
    uri = resolve_image_uri(value, input_file=input_file)
    try:
        return LoadedImage(storage_for(uri).read_bytes(uri))
    except _MISSING:
        return LoadedImage(None, ErrorCode.IMAGE_MISSING.value, f"no image at {uri}")
    except ValueError as exc:  # an unsupported URI scheme: nothing pressroom can read
        return LoadedImage(None, ErrorCode.IMAGE_MISSING.value, str(exc))


def load_image(value: bytes | str | None, *, input_file: str) -> LoadedImage:
    """The checked bytes of one row's image value (bytes, a path/URI, or null)."""
    if value is None:
        return LoadedImage(None, ErrorCode.IMAGE_MISSING.value, "the image value is null")
    loaded = _read(value, input_file=input_file) if isinstance(value, str) else LoadedImage(bytes(value))
    if loaded.data is None:
        return loaded
    problem = check_image(loaded.data)
    if problem:
        return LoadedImage(None, ErrorCode.IMAGE_UNREADABLE.value, f"not a readable image ({problem})")
    return loaded


def load_image_column(column: pa.ChunkedArray | pa.Array, *, input_file: str) -> list[LoadedImage]:
    """One LoadedImage per value of a binary (bytes) or string (path/URI) column."""
    if not is_image_column_type(column.type):
        raise TypeError(f"an image column holds bytes (binary) or paths (string), not {column.type}")
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return [load_image(value, input_file=input_file) for value in column.to_pylist()]


def is_image_column_type(kind: pa.DataType) -> bool:
    """Whether a column of this type can hold images: binary bytes or string paths/URIs."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return any(check(kind) for check in (pa.types.is_binary, pa.types.is_large_binary,
                                         pa.types.is_string, pa.types.is_large_string))


def image_prompt_sha256(prompt_hash: str, data: bytes) -> str:
    """The prompt hash extended with the image bytes: same text, different image, different hash."""
    return hashlib.sha256(f"{prompt_hash}\x00{hashlib.sha256(data).hexdigest()}".encode()).hexdigest()
