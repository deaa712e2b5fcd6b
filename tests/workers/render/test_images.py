"""Images in the render stage: bytes or paths/URIs in, checked bytes or image_missing /
image_unreadable out; input checks for input.image_column; the `_image` column the actors get."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import ValidationError

from jobs.errors import InputError
from jobs.inputs import inspect_input
from schemas.rows import ERROR_DESCRIPTIONS, ErrorCode
from schemas.spec import JobSpec
from tests.builders import write_parquet
from workers.render import check_image, image_prompt_sha256, load_image_column, prompt_sha256
from workers.render.images import load_image, resolve_image_uri


def png(colour: tuple[int, int, int], size: tuple[int, int] = (32, 24)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


RED, BLUE = png((255, 0, 0)), png((0, 0, 255))
GARBAGE = b"GIF89a but nothing after the header"


def test_inline_bytes_pass_through_unchanged():
    loaded = load_image(RED, input_file="/data/in.parquet", roots=["/data"])
    assert (loaded.data, loaded.error_code, loaded.error_message) == (RED, None, None)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_null_or_empty_value_is_image_missing(value):
    loaded = load_image(value, input_file="/data/in.parquet", roots=["/data"])
    assert (loaded.data, loaded.error_code) == (None, "image_missing")


@pytest.mark.parametrize("data", [GARBAGE, b"", RED[: len(RED) // 2], b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_bytes_pil_cannot_decode_are_image_unreadable(data):
    loaded = load_image(data, input_file="/data/in.parquet", roots=["/data"])
    assert (loaded.data, loaded.error_code) == (None, "image_unreadable")
    assert loaded.error_message.startswith("not a readable image (")


def test_truncated_png_fails_the_check():
    assert check_image(RED) is None
    assert check_image(RED[:-20]) is not None  # IEND and part of the data gone


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims a size: a decompression bomb is a few bytes until decoded."""
    import struct
    import zlib

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    end = b"IEND"
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(header))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", 0)
        + end
        + struct.pack(">I", zlib.crc32(end))
    )


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke\n%%EOF\n"


def test_images_are_limited_in_pixels_bytes_and_formats(tmp_path, monkeypatch):
    import time

    from workers.render import images

    began = time.monotonic()
    assert check_image(_png_header(9_000, 9_000)) == "9000x9000 pixels, more than the 50,000,000 an image may have"
    assert time.monotonic() - began < 1  # refused from the header: nothing decoded
    assert check_image(EPS).startswith("not an image in a format a caption model takes")  # never Ghostscript
    monkeypatch.setattr(images, "MAX_IMAGE_BYTES", len(RED) - 1)
    assert check_image(RED) == f"{len(RED)} bytes, more than the 0 MiB an image may have"
    (tmp_path / "big.png").write_bytes(RED)
    loaded = load_image("big.png", input_file=str(tmp_path / "in.parquet"), roots=[str(tmp_path)])
    assert (loaded.error_code, loaded.error_message) == (
        "image_unreadable",
        f"not a readable image ({len(RED)} bytes, more than 0 MiB)",
    )


def test_relative_paths_resolve_against_the_input_files_directory(tmp_path, monkeypatch):
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "red.png").write_bytes(RED)
    monkeypatch.chdir(Path("/"))  # the working directory must not matter
    input_file = str(tmp_path / "in.parquet")
    assert load_image("pics/red.png", input_file=input_file, roots=[str(tmp_path)]).data == RED
    assert load_image(str(tmp_path / "pics" / "red.png"), input_file=input_file, roots=[str(tmp_path)]).data == RED
    assert load_image(f"file://{tmp_path}/pics/red.png", input_file=input_file, roots=[str(tmp_path)]).data == RED


def test_paths_that_name_nothing_are_image_missing(tmp_path):
    input_file = str(tmp_path / "in.parquet")
    (tmp_path / "adir").mkdir()
    for value in ("nope.png", str(tmp_path / "nope.png"), "adir"):
        loaded = load_image(value, input_file=input_file, roots=[str(tmp_path)])
        assert (loaded.data, loaded.error_code) == (None, "image_missing"), value
    missing = load_image("nope.png", input_file=input_file, roots=[str(tmp_path)])
    assert missing.error_message == f"no image at {tmp_path / 'nope.png'}"


def test_a_file_that_is_not_an_image_is_image_unreadable(tmp_path):
    (tmp_path / "notes.png").write_text("just text")
    loaded = load_image("notes.png", input_file=str(tmp_path / "in.parquet"), roots=[str(tmp_path)])
    assert loaded.error_code == "image_unreadable"


def test_paths_outside_the_roots_are_refused_without_saying_whether_they_exist(tmp_path):
    from workers.render import image_roots

    inputs = tmp_path / "tables"
    (inputs / "pics").mkdir(parents=True)
    (inputs / "pics" / "red.png").write_bytes(RED)
    (tmp_path / "secret.png").write_bytes(RED)
    (inputs / "pics" / "link.png").symlink_to(tmp_path / "secret.png")
    extra = tmp_path / "shared"
    extra.mkdir()
    (extra / "blue.png").write_bytes(BLUE)
    roots = image_roots(str(inputs / "in.parquet"), [str(extra)])
    assert roots == [str(inputs), str(extra)]
    input_file = str(inputs / "in.parquet")
    assert load_image("pics/red.png", input_file=input_file, roots=roots).data == RED
    assert load_image(str(extra / "blue.png"), input_file=input_file, roots=roots).data == BLUE  # input.image_roots
    refused = {
        value: load_image(value, input_file=input_file, roots=roots)
        for value in (
            "../secret.png",
            str(tmp_path / "secret.png"),
            "pics/link.png",
            "/etc/passwd",
            "../nothing-here.png",
            f"file://{tmp_path}/secret.png",
            "ftp://host/x.png",
        )
    }
    assert {v: (r.data, r.error_code) for v, r in refused.items()} == dict.fromkeys(
        refused, (None, "image_not_allowed")
    )
    assert len({r.error_message for r in refused.values()}) == 1  # existing or not, the same words


def test_uri_resolution_rules():
    assert resolve_image_uri("a/b.png", input_file="s3://bucket/dir/in.parquet") == "s3://bucket/dir/a/b.png"
    assert resolve_image_uri("s3://other/x.png", input_file="s3://bucket/dir/in.parquet") == "s3://other/x.png"
    assert resolve_image_uri("/abs/x.png", input_file="s3://bucket/dir/in.parquet") == "/abs/x.png"
    assert resolve_image_uri("x.png", input_file="/data/in.parquet") == "/data/x.png"


def test_images_on_s3_load_and_missing_keys_are_image_missing(s3_bucket):
    from workers.io import storage_for

    storage_for(f"s3://{s3_bucket}/x").write_bytes(f"s3://{s3_bucket}/tables/pics/blue.png", BLUE)
    input_file = f"s3://{s3_bucket}/tables/in.parquet"
    roots = [f"s3://{s3_bucket}/"]
    assert load_image("pics/blue.png", input_file=input_file, roots=roots).data == BLUE
    assert load_image(f"s3://{s3_bucket}/tables/pics/blue.png", input_file=input_file, roots=roots).data == BLUE
    assert load_image("pics/gone.png", input_file=input_file, roots=roots).error_code == "image_missing"
    assert (
        load_image(f"s3://other-{s3_bucket}/x.png", input_file=input_file, roots=roots).error_code
        == "image_not_allowed"
    )


def test_column_of_bytes_or_paths(tmp_path):
    (tmp_path / "red.png").write_bytes(RED)
    input_file = str(tmp_path / "in.parquet")
    binary = load_image_column(pa.chunked_array([[RED, None, GARBAGE]], pa.binary()), input_file=input_file, roots=[])
    assert [(i.data, i.error_code) for i in binary] == [
        (RED, None),
        (None, "image_missing"),
        (None, "image_unreadable"),
    ]
    paths = pa.array(["red.png", "red.png", "gone.png"]).dictionary_encode()
    loaded = load_image_column(paths, input_file=input_file, roots=[str(tmp_path)])
    assert [i.error_code for i in loaded] == [None, None, "image_missing"]
    with pytest.raises(TypeError, match="not int64"):
        load_image_column(pa.array([1, 2]), input_file=input_file, roots=[])


def test_image_hash_extends_the_prompt_hash():
    base = prompt_sha256(system="s", prompt="p")
    assert image_prompt_sha256(base, RED) == image_prompt_sha256(base, RED)
    assert len({base, image_prompt_sha256(base, RED), image_prompt_sha256(base, BLUE)}) == 3


def test_error_codes_are_documented():
    for code in (ErrorCode.IMAGE_MISSING, ErrorCode.IMAGE_UNREADABLE):
        assert ERROR_DESCRIPTIONS[code]
    assert {ErrorCode.IMAGE_MISSING.value, ErrorCode.IMAGE_UNREADABLE.value} == {"image_missing", "image_unreadable"}


def _caption_spec(input_uri: Path, **input_fields) -> JobSpec:
    return JobSpec.model_validate(
        {
            "name": "captions",
            "input": {
                "uri": str(input_uri),
                "id_column": "id",
                "columns": ["note"],
                "image_column": "image",
                **input_fields,
            },
            "task": {"kind": "caption", "prompt": "Caption it. Hint: {{ note }}"},
            "output": {"uri": "/unused"},
        }
    )


def _image_table(images: list) -> pa.Table:
    kind = pa.binary() if any(isinstance(i, bytes) for i in images) else pa.string()
    return pa.table(
        {
            "id": [f"i{k}" for k in range(len(images))],
            "note": [f"note {k}" for k in range(len(images))],
            "image": pa.array(images, kind),
        }
    )


def test_caption_needs_an_image_column():
    with pytest.raises(ValidationError, match="image_column"):
        JobSpec.model_validate(
            {
                "name": "c",
                "input": {"uri": "x", "id_column": "id"},
                "task": {"kind": "caption"},
                "output": {"uri": "/o"},
            }
        )


def test_inspect_input_checks_the_image_column(tmp_path):
    path = write_parquet(tmp_path / "in.parquet", _image_table([RED, BLUE]))
    table = inspect_input(_caption_spec(path))
    assert table.read_columns == ["id", "note", "image"]
    with pytest.raises(InputError) as missing:
        inspect_input(_caption_spec(path, image_column="picture"))
    assert str(missing.value).startswith(f"input file {path} has no column 'picture' (needed by input.image_column)")
    wrong = write_parquet(tmp_path / "ints.parquet", pa.table({"id": ["a"], "note": ["n"], "image": [3]}))
    with pytest.raises(InputError) as typed:
        inspect_input(_caption_spec(wrong))
    assert str(typed.value) == (
        f"input file {wrong}: column 'image' (input.image_column) is int64; it must hold image bytes "
        "(binary) or image paths/URIs (string)"
    )


def _render(path: Path, rows: int):
    from workers.render import RenderConfig, read_and_render

    config = RenderConfig(
        read_columns=["id", "note", "image"],
        keep_columns=["id", "note"],
        template="Caption it. Hint: {{ note }}",
        template_columns=["note"],
        system="Sys",
        image_column="image",
        image_roots=(str(path.parent),),
    )
    unit = pa.table({"shards": [[{"index": 0, "input_file": str(path), "row_start": 0, "row_end": rows}]]})
    [rendered] = read_and_render(unit, config=config)
    return rendered


def test_render_stage_adds_image_bytes_and_error_rows(tmp_path):
    path = write_parquet(tmp_path / "in.parquet", _image_table([RED, None, GARBAGE, BLUE]))
    out = _render(path, 4)
    assert out.column_names == [
        "id",
        "note",
        "prompt",
        "prompt_sha256",
        "generation_key",
        "error_code",
        "error_message",
        "_image",
        "_shard",
        "_row",
    ]
    assert out.schema.field("_image").type == pa.binary()
    assert out.column("_image").to_pylist() == [RED, None, None, BLUE]
    assert out.column("error_code").to_pylist() == [None, "image_missing", "image_unreadable", None]
    assert out.column("id").to_pylist() == ["i0", "i1", "i2", "i3"] and out.column("_row").to_pylist() == [0, 1, 2, 3]
    text_hash = prompt_sha256(system="Sys", prompt="Caption it. Hint: note 0")
    hashes = out.column("prompt_sha256").to_pylist()
    assert hashes[0] == image_prompt_sha256(text_hash, RED) and hashes[1:3] == [None, None]


def test_render_stage_reads_image_paths_next_to_the_input(tmp_path):
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "red.png").write_bytes(RED)
    path = write_parquet(tmp_path / "in.parquet", _image_table(["pics/red.png", "pics/none.png", None]))
    out = _render(path, 3)
    assert out.column("_image").to_pylist() == [RED, None, None]
    assert out.column("error_code").to_pylist() == [None, "image_missing", "image_missing"]


def test_a_render_error_is_reported_before_an_image_error(tmp_path):
    table = _image_table([None, RED]).set_column(1, "note", pa.array([None, "n"], pa.string()))
    out = _render(write_parquet(tmp_path / "in.parquet", table), 2)
    assert out.column("error_code").to_pylist() == ["template_error", None]


def test_actor_builds_requests_with_images_and_drops_the_column():
    from workers.actor import generate_table
    from workers.engines import EngineConfig, Result

    class Recorder:
        config = EngineConfig(model_path="/m", model_name="m")
        name = "recorder"

        def generate(self, requests):
            self.requests = requests
            return [Result(f"saw {len(r.image or b'')} bytes", "stop", 3, 2) for r in requests]

    batch = pa.table(
        {
            "id": ["a", "b", "c"],
            "prompt": ["p", "p", None],
            "error_code": [None, None, "image_missing"],
            "error_message": [None, None, "gone"],
            "_image": pa.array([RED, None, None], pa.binary()),
        }
    )
    engine = Recorder()
    out = generate_table(engine, batch, system="s", model="m")
    assert [(r.prompt, r.image) for r in engine.requests] == [("p", RED), ("p", None)]
    assert "_image" not in out.column_names
    assert out.column("text").to_pylist() == [f"saw {len(RED)} bytes", "saw 0 bytes", None]
    assert out.column("error_code").to_pylist() == [None, None, "image_missing"]
