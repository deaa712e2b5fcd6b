"""Images for the render stage: each row's image bytes (inline, or read from a path or URI), checked.

A null value or a path that names nothing is `image_missing`; bytes PIL cannot open and decode
are `image_unreadable`, and so are images over `MAX_IMAGE_BYTES` (never read whole) or
`MAX_IMAGE_PIXELS` (refused from the header, before any pixel is decoded) and formats a caption
model does not take (`FORMATS`: no EPS, whose decoder runs Ghostscript, no PDF). Good images
travel on as their original bytes; engines decode them.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

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


MAX_IMAGE_BYTES = 32 * 1024 * 1024
MAX_IMAGE_PIXELS = 50_000_000  # 50 megapixels; Pillow itself only warns below 179M
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")  # what caption models take


def check_image(data: bytes) -> str | None:
    """None if PIL can open, verify and decode (once) the bytes as an allowed format within the
    size limits, else a one-line reason."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_IMAGE_BYTES:
        return f"{len(data)} bytes, more than the {MAX_IMAGE_BYTES // 2**20} MiB an image may have"
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            width, height = image.size  # from the header: nothing decoded yet
            if width * height > MAX_IMAGE_PIXELS:
                return f"{width}x{height} pixels, more than the {MAX_IMAGE_PIXELS:,} an image may have"
            image.verify()  # structure and checksums, no pixels decoded; the object is spent afterwards
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            image.load()  # the one decode: truncated pixel data that verify() lets through fails here
    except UnidentifiedImageError:
        return f"not an image in a format a caption model takes ({', '.join(FORMATS)})"
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, ValueError, ...)
        detail = (str(exc).strip().splitlines() or ["cannot decode"])[0]
        return f"{type(exc).__name__}: {detail}"
    return None


def image_roots(input_uri: str, extra: list[str]) -> list[str]:
    """Where image paths may point: the input's own directory (local) or bucket (s3), plus `extra`."""
    if scheme_of(input_uri) == "s3":
        own = f"s3://{urlparse(input_uri).netloc}/"
    else:
        own = input_uri if Path(input_uri).is_dir() else str(Path(input_uri).parent)
    return [own, *extra]


def _allowed(uri: str, roots: list[str]) -> bool:
    """Whether a resolved image URI lies under one of the roots (symlinks and '..' resolved first)."""
    scheme = scheme_of(uri)
    if scheme == "s3":
        if ".." in uri.split("/"):
            return False
        return any(scheme_of(r) == "s3" and uri.startswith(r.rstrip("/") + "/") for r in roots)
    if scheme not in ("", "file"):
        return False
    real = os.path.realpath(urlparse(uri).path if scheme == "file" else uri)
    for root in roots:
        if scheme_of(root) in ("", "file"):
            base = os.path.realpath(urlparse(root).path if scheme_of(root) == "file" else root)
            if os.path.commonpath([real, base]) == base:
                return True
    return False


def _read(value: str, *, input_file: str, roots: list[str]) -> LoadedImage:
    if not value.strip():
        return LoadedImage(None, ErrorCode.IMAGE_MISSING.value, "the image path is empty")
    uri = resolve_image_uri(value, input_file=input_file)
    if not _allowed(uri, roots):  # decided before any read: the message says nothing of existence
        return LoadedImage(
            None,
            ErrorCode.IMAGE_NOT_ALLOWED.value,
            "the image path is outside the allowed image roots (see input.image_roots)",
        )
    try:
        storage = storage_for(uri)
        size = storage.stat(uri).size
        if size > MAX_IMAGE_BYTES:  # refused before reading a byte of it
            return LoadedImage(
                None,
                ErrorCode.IMAGE_UNREADABLE.value,
                f"not a readable image ({size} bytes, more than {MAX_IMAGE_BYTES // 2**20} MiB)",
            )
        return LoadedImage(storage.read_bytes(uri))
    except _MISSING:
        return LoadedImage(None, ErrorCode.IMAGE_MISSING.value, f"no image at {uri}")
    except ValueError as exc:  # an unsupported URI scheme: nothing pressroom can read
        return LoadedImage(None, ErrorCode.IMAGE_MISSING.value, str(exc))


def load_image(value: bytes | str | None, *, input_file: str, roots: list[str]) -> LoadedImage:
    """The checked bytes of one row's image value (bytes, a path/URI under `roots`, or null)."""
    if value is None:
        return LoadedImage(None, ErrorCode.IMAGE_MISSING.value, "the image value is null")
    loaded = _read(value, input_file=input_file, roots=roots) if isinstance(value, str) else LoadedImage(bytes(value))
    if loaded.data is None:
        return loaded
    problem = check_image(loaded.data)
    if problem:
        return LoadedImage(None, ErrorCode.IMAGE_UNREADABLE.value, f"not a readable image ({problem})")
    return loaded


def load_image_column(column: pa.ChunkedArray | pa.Array, *, input_file: str, roots: list[str]) -> list[LoadedImage]:
    """One LoadedImage per value of a binary (bytes) or string (path/URI) column."""
    if not is_image_column_type(column.type):
        raise TypeError(f"an image column holds bytes (binary) or paths (string), not {column.type}")
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return [load_image(value, input_file=input_file, roots=roots) for value in column.to_pylist()]


def is_image_column_type(kind: pa.DataType) -> bool:
    """Whether a column of this type can hold images: binary bytes or string paths/URIs."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return any(
        check(kind)
        for check in (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_string, pa.types.is_large_string)
    )


def image_prompt_sha256(prompt_hash: str, data: bytes) -> str:
    """The prompt hash extended with the image bytes: same text, different image, different hash."""
    return hashlib.sha256(f"{prompt_hash}\x00{hashlib.sha256(data).hexdigest()}".encode()).hexdigest()
