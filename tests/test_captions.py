"""Caption jobs end to end through Ray on the tiny random Idefics3, on both engines, with images
stored inline (bytes) and as file paths next to the input table."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.builders import VLLM_TEST_ARGS, committed_outputs, write_spec
from tests.tiny_vlm import IMAGE_PROMPT_TOKENS, IMAGE_TOKEN, build_tiny_idefics3, make_test_images

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

IMAGES = 5
MAX_TOKENS = 8
GOOD_IDS = [f"img-{i}" for i in range(IMAGES)]
RUNS = [("vllm", "bytes"), ("vllm", "paths"), ("hf", "bytes"), ("hf", "paths")]


@pytest.fixture(scope="module")
def tiny_vlm(tmp_path_factory) -> Path:
    return build_tiny_idefics3(tmp_path_factory.mktemp("models") / "tiny-idefics3")


def _png(image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    """The same images twice: inline PNG bytes, and PNG files named by relative paths. Each table
    also has one row with no image (null / a path to nothing) and one with bytes that are not an image."""
    root = tmp_path_factory.mktemp("captions-in")
    pngs = [_png(image) for image in make_test_images(IMAGES, seed=3)]
    ids = [*GOOD_IDS, "gone", "garbage"]
    notes = [f"picture {i}" for i in range(len(ids))]
    (root / "pics").mkdir()
    for i, data in enumerate(pngs):
        (root / "pics" / f"{i}.png").write_bytes(data)
    (root / "pics" / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n then noise")
    as_bytes = pa.table({"image_id": ids, "note": notes, "image": pa.array([*pngs, None, b"noise"], pa.binary())})
    paths = [f"pics/{i}.png" for i in range(IMAGES)] + ["pics/missing.png", "pics/garbage.png"]
    as_paths = pa.table({"image_id": ids, "note": notes, "image": pa.array(paths, pa.string())})
    pq.write_table(as_bytes, root / "bytes.parquet")
    pq.write_table(as_paths, root / "paths.parquet")
    return {"bytes": root / "bytes.parquet", "paths": root / "paths.parquet"}


@pytest.fixture(scope="module")
def jobs(tiny_vlm, inputs, tmp_path_factory, ray_session) -> dict[tuple[str, str], tuple[dict, list[dict]]]:
    """(engine, storage) -> (manifest, output rows) of a caption job on the preset prompt."""
    from jobs.run import run_job
    from jobs.spec import load_spec

    results = {}
    for engine, storage in RUNS:
        work = tmp_path_factory.mktemp(f"captions-{engine}-{storage}")
        spec = load_spec(
            write_spec(
                work / "job.yaml",
                {
                    "name": "captions",
                    "input": {
                        "uri": str(inputs[storage]),
                        "id_column": "image_id",
                        "columns": ["note"],
                        "image_column": "image",
                        "rows_per_shard": 4,
                    },
                    "task": {"kind": "caption"},
                    "model": {
                        "engine": engine,
                        "source": str(tiny_vlm),
                        "max_model_len": 256,
                        "dtype": "float32",
                        "engine_args": dict(VLLM_TEST_ARGS) if engine == "vllm" else {},
                    },
                    "sampling": {"temperature": 0.0, "max_tokens": MAX_TOKENS, "ignore_eos": True},
                    "output": {"uri": str(work / "out")},
                    "resources": {"batch_size": 16},
                },
            )
        )
        results[(engine, storage)] = committed_outputs(run_job(spec, run_id="captions"))
    return results


@pytest.fixture(scope="module")
def expected_input_tokens(tiny_vlm) -> int:
    """The preset prompt's text tokens with the image placeholder replaced by the image's tokens."""
    from transformers import AutoProcessor

    from jobs.spec import PRESETS
    from workers.engines import Request, image_prompt_text

    processor = AutoProcessor.from_pretrained(tiny_vlm)
    preset = PRESETS["caption"]
    text = image_prompt_text(processor, Request.from_prompt(preset.system, preset.prompt, image=b"unused"))
    assert text.count(IMAGE_TOKEN) == 1 and text.startswith("<s>System: You describe images")
    text_only = len(processor.tokenizer(text.replace(IMAGE_TOKEN, ""), add_special_tokens=False)["input_ids"])
    return text_only + IMAGE_PROMPT_TOKENS


@pytest.mark.parametrize("run", RUNS, ids=lambda r: f"{r[0]}-{r[1]}")
def test_one_caption_row_per_image_and_error_rows(jobs, run, expected_input_tokens):
    manifest, rows = jobs[run]
    assert [r["image_id"] for r in rows] == [*GOOD_IDS, "gone", "garbage"]
    assert [r["note"] for r in rows] == [f"picture {i}" for i in range(IMAGES + 2)]  # carried as-is
    assert "image" not in rows[0] and "_image" not in rows[0]
    captions = rows[:IMAGES]
    for row in captions:
        assert row["error_code"] is None and row["text"], row
        assert row["num_input_tokens"] == expected_input_tokens  # the image's 7 tokens included
        assert (row["num_output_tokens"], row["finish_reason"]) == (MAX_TOKENS, "length")
    assert len({r["text"] for r in captions}) > 1  # only the pixels differ between these prompts
    assert len({r["prompt_sha256"] for r in captions}) == IMAGES  # the hash covers the image
    missing, unreadable = rows[IMAGES:]
    assert (missing["error_code"], missing["text"], missing["num_input_tokens"]) == ("image_missing", None, 0)
    assert (unreadable["error_code"], unreadable["text"]) == ("image_unreadable", None)
    if run[1] == "paths":
        assert missing["error_message"] == f"no image at {Path(manifest['inputs'][0]['uri']).parent}/pics/missing.png"
    assert manifest["errors"] == {"image_missing": 1, "image_unreadable": 1}
    totals = manifest["totals"]
    assert (totals["rows_in"], totals["rows_ok"], totals["rows_failed"]) == (IMAGES + 2, IMAGES, 2)
    assert totals["input_tokens"] == IMAGES * expected_input_tokens
    assert totals["output_tokens"] == IMAGES * MAX_TOKENS


def test_vllm_and_hf_captions_match_for_the_same_image(jobs):
    # Greedy float32 on both engines: the same tokens; vLLM holds back a trailing partial UTF-8 character.
    by_run = {
        run: [(r["text"].rstrip("\ufffd"), r["num_input_tokens"]) for r in rows[:IMAGES]]
        for run, (_, rows) in jobs.items()
    }
    assert by_run[("vllm", "bytes")] == by_run[("hf", "bytes")]
    assert by_run[("vllm", "paths")] == by_run[("vllm", "bytes")] == by_run[("hf", "paths")]


@pytest.mark.parametrize("engine", ["vllm", "hf"])
def test_image_prompt_past_the_context_is_prompt_too_long_and_the_rest_still_generate(tiny_vlm, engine):
    # vLLM only learns an image prompt's length when it expands the image: the batch fails, and each
    # row is retried alone (with vLLM's multimodal processor cache on, the retries fail too).
    from transformers import AutoProcessor

    from workers.engines import EngineConfig, Request, build_engine, generate_checked, image_prompt_text

    processor = AutoProcessor.from_pretrained(tiny_vlm)
    image = _png(make_test_images(1, seed=5)[0])
    long, short = (
        Request.from_prompt(None, text, image=image) for text in ("Write a caption for this image, please.", "Hi")
    )

    def tokens(request: Request) -> int:
        text = image_prompt_text(processor, request).replace(IMAGE_TOKEN, "")
        return len(processor.tokenizer(text, add_special_tokens=False)["input_ids"]) + IMAGE_PROMPT_TOKENS

    context = tokens(long)
    assert tokens(short) + 2 < context
    reference = build_engine(
        engine,
        EngineConfig(
            model_path=str(tiny_vlm),
            model_name="tiny-vlm",
            max_model_len=context,
            dtype="float32",
            engine_args=dict(VLLM_TEST_ARGS) if engine == "vllm" else {},
            sampling={"temperature": 0.0, "max_tokens": 64, "ignore_eos": True},
        ),
    )
    reference.load()
    try:
        too_long, fits = generate_checked(reference, [long, short])
    finally:
        reference.close()
    assert (too_long.error_code, too_long.num_input_tokens) == ("prompt_too_long", context)
    assert too_long.error_message == f"prompt has {context} tokens; the model's context is {context}"
    assert fits.error_code is None and fits.num_input_tokens == tokens(short)
    assert fits.num_output_tokens == context - tokens(short)  # capped so prompt + output fits
