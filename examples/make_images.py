#!/usr/bin/env python3
"""Generate the small image table used by the ``caption`` example job.

Writes ``examples/data/images.parquet`` (or the path given as the first argument) with columns
``image_id``, ``image`` (PNG bytes) and ``description`` (what was drawn, in words): 12 coloured
shapes drawn with PIL from fixed parameters (no randomness, no network), plus two rows that
show the error rows a caption job writes: ``img-013`` has a null image (``image_missing``) and
``img-014`` holds bytes that are not an image (``image_unreadable``).

    python examples/make_images.py                 # default location
    python examples/make_images.py /tmp/out.parquet
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "data" / "images.parquet"

SCHEMA = pa.schema([("image_id", pa.string()), ("image", pa.binary()), ("description", pa.string())])

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 160, 60),
    "blue": (40, 60, 220),
    "yellow": (240, 220, 40),
    "purple": (150, 40, 170),
    "orange": (250, 140, 20),
    "white": (250, 250, 250),
    "black": (10, 10, 10),
}

# (shape, shape colour, background colour, (width, height)), in image-id order.
DRAWINGS: list[tuple[str, str, str, tuple[int, int]]] = [
    ("circle", "red", "white", (96, 96)),
    ("square", "blue", "yellow", (96, 96)),
    ("triangle", "green", "black", (128, 96)),
    ("stripes", "orange", "blue", (96, 128)),
    ("circle", "yellow", "purple", (64, 64)),
    ("square", "black", "orange", (128, 128)),
    ("triangle", "white", "red", (96, 96)),
    ("stripes", "purple", "white", (128, 64)),
    ("circle", "blue", "green", (80, 96)),
    ("square", "red", "black", (96, 80)),
    ("triangle", "orange", "green", (64, 96)),
    ("stripes", "black", "yellow", (96, 96)),
]


def draw(shape: str, colour: str, background: str, size: tuple[int, int]) -> bytes:
    """One PNG image: a shape (or vertical stripes) in `colour` on a `background` canvas."""
    from PIL import Image, ImageDraw

    width, height = size
    image = Image.new("RGB", size, COLOURS[background])
    pen = ImageDraw.Draw(image)
    box = (width // 6, height // 6, width - width // 6, height - height // 6)
    if shape == "circle":
        pen.ellipse(box, fill=COLOURS[colour])
    elif shape == "square":
        pen.rectangle(box, fill=COLOURS[colour])
    elif shape == "triangle":
        pen.polygon([(box[0], box[3]), (width // 2, box[1]), (box[2], box[3])], fill=COLOURS[colour])
    else:
        for x in range(0, width, 16):
            pen.rectangle((x, 0, x + 7, height - 1), fill=COLOURS[colour])
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def rows() -> list[dict]:
    """The table's rows: the drawings, then the two rows that become error rows."""
    table = []
    for i, (shape, colour, background, size) in enumerate(DRAWINGS, start=1):
        noun = "vertical stripes" if shape == "stripes" else f"a {shape}"
        table.append(
            {
                "image_id": f"img-{i:03d}",
                "image": draw(shape, colour, background, size),
                "description": f"{noun} in {colour} on {_article(background)} {background} background",
            }
        )
    table.append({"image_id": "img-013", "image": None, "description": "no image (null): image_missing"})
    table.append(
        {
            "image_id": "img-014",
            "image": b"\x89PNG\r\n\x1a\n but not really an image",
            "description": "bytes that are not an image: image_unreadable",
        }
    )
    return table


def main() -> None:
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT
    output.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows(), schema=SCHEMA), output, compression="zstd", write_statistics=False)
    print(f"{output}: {len(rows())} rows")


if __name__ == "__main__":
    main()
