"""The default vision-language model for caption jobs: a tiny *random* Idefics3, built locally.

No real VLM can be had here without hub access, so `model.source: default-vlm` resolves to a
deterministic tiny random `Idefics3ForConditionalGeneration` built on first use into
`pressroom_home()/models/tiny-idefics3`. Its weights are random: its captions are gibberish.
It exists so the caption pipeline (images in, text out, on vLLM and transformers) runs end to
end offline; point `model.source` at a real Idefics3/SmolVLM checkout for real captions.

What is built: a 2-layer SigLIP-style vision tower on 64x64 images, a pixel-shuffle connector and
a 2-layer Llama with head_dim 64 (vLLM's CPU attention rejects head_dim 16), a locally trained
byte-level BPE tokenizer with the Idefics3 special tokens, and an `Idefics3Processor` around the
PIL-only `Idefics3ImageProcessorPil` (no torchvision; image splitting off). It loads and
greedy-generates in vLLM (CPU) and transformers with identical token ids (float32).

One image becomes IMAGE_PROMPT_TOKENS prompt tokens in both engines:
`<fake_token_around_image><global-img>` + IMAGE_SEQ_LEN x `<image>` + `<fake_token_around_image>`.

    python -m workers.models.default_vlm    # builds the model (seconds) and prints its directory
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from workers.home import pressroom_home

SOURCE = "default-vlm"  # the model.source name that resolves here
MODEL_NAME = "tiny-idefics3"
MARKER = ".pressroom-complete"
BUILD_VERSION = 1  # bump when the build changes, so older directories are rebuilt

IMAGE_TOKEN = "<image>"
FAKE_IMAGE_TOKEN = "<fake_token_around_image>"
GLOBAL_IMAGE_TOKEN = "<global-img>"
END_OF_UTTERANCE = "<end_of_utterance>"
ROW_COL_TOKENS = [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)]

SPECIAL_TOKENS = [
    "<pad>",
    "<s>",
    "</s>",
    "<unk>",
    FAKE_IMAGE_TOKEN,
    IMAGE_TOKEN,
    END_OF_UTTERANCE,
    GLOBAL_IMAGE_TOKEN,
    *ROW_COL_TOKENS,
]

# Vision geometry: one 64x64 image -> (64/16)^2 = 16 patches -> pixel shuffle (scale 2) -> 4
# image embeddings, i.e. 4 `<image>` tokens.
IMAGE_SIZE = 64
PATCH_SIZE = 16
SCALE_FACTOR = 2
IMAGE_SEQ_LEN = (IMAGE_SIZE // PATCH_SIZE) ** 2 // SCALE_FACTOR**2
IMAGE_PROMPT_TOKENS = IMAGE_SEQ_LEN + 3  # + fake, global-img, fake

# The Idefics3 (SmolVLM) chat template, with the BOS from the tokenizer; a string content is
# accepted as plain text too.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ message['role'] | capitalize }}"
    "{% if message['content'] is string %}{{ ': ' + message['content'] }}"
    "{% else %}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% elif part['type'] == 'image' %}{{ '<image>' }}{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "<end_of_utterance>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

_COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
_SHAPES = ["circle", "square", "triangle", "stripe"]
_WORDS = [
    "a",
    "the",
    "image",
    "photo",
    "shows",
    "small",
    "large",
    "bright",
    "dark",
    "shape",
    "on",
    "with",
    "and",
    "of",
    "in",
    "picture",
    "caption",
    "sentence",
    "describe",
    "write",
    "one",
    "plain",
    "simple",
    "centre",
    "corner",
    "pattern",
    "colour",
    "background",
    "this",
]


def default_vlm_dir() -> Path:
    """Where `default-vlm` is built."""
    return pressroom_home() / "models" / MODEL_NAME


def _tokenizer_corpus() -> list[str]:
    rng = random.Random(1)
    captions = [
        f"User: Describe the image. Assistant: A {rng.choice(_COLOURS)} {rng.choice(_SHAPES)} on a "
        f"{rng.choice(_COLOURS)} background."
        for _ in range(300)
    ]
    words = [
        " ".join(rng.choice(_WORDS + _COLOURS + _SHAPES) for _ in range(12)).capitalize() + "." for _ in range(300)
    ]
    return captions + words


def build_tokenizer():
    """A byte-level BPE tokenizer with the Idefics3 special tokens, trained on a fixed corpus."""
    from transformers import PreTrainedTokenizerFast

    from workers.models.byte_bpe import train_byte_bpe

    raw = train_byte_bpe(_tokenizer_corpus(), special_tokens=SPECIAL_TOKENS, unk_token="<unk>")
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token="<s>",
        eos_token=END_OF_UTTERANCE,
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=[
            FAKE_IMAGE_TOKEN,
            IMAGE_TOKEN,
            END_OF_UTTERANCE,
            GLOBAL_IMAGE_TOKEN,
            *ROW_COL_TOKENS,
        ],
        model_max_length=2048,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_processor(path: Path):
    """The PIL image processor (no torchvision) and the Idefics3 processor, saved to `path`."""
    from transformers import Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    image_processor = Idefics3ImageProcessorPil(
        do_image_splitting=False,
        size={"longest_edge": IMAGE_SIZE},
        max_image_size={"longest_edge": IMAGE_SIZE},
    )
    processor = Idefics3Processor(
        image_processor=image_processor,
        tokenizer=build_tokenizer(),
        image_seq_len=IMAGE_SEQ_LEN,
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(path)  # also writes the tokenizer files
    return processor


def _model_config(tokenizer):
    from transformers import Idefics3Config, LlamaConfig

    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in SPECIAL_TOKENS}
    if not all(isinstance(i, int) and i < len(tokenizer) for i in ids.values()):
        raise RuntimeError(f"special tokens missing from the tokenizer: {ids}")
    text_config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,  # head_dim 64
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
        bos_token_id=ids["<s>"],
        eos_token_id=ids[END_OF_UTTERANCE],
        pad_token_id=ids["<pad>"],
        tie_word_embeddings=False,
    )
    vision_config = {
        "hidden_size": 128,
        "intermediate_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,  # head_dim 64
        "num_channels": 3,
        "image_size": IMAGE_SIZE,
        "patch_size": PATCH_SIZE,
    }
    config = Idefics3Config(
        text_config=text_config.to_dict(),
        vision_config=vision_config,
        scale_factor=SCALE_FACTOR,
        image_token_id=ids[IMAGE_TOKEN],
        pad_token_id=ids["<pad>"],
        tie_word_embeddings=False,
    )
    return config, ids


def build_tiny_idefics3(path: Path) -> Path:
    """Write a deterministic tiny random Idefics3ForConditionalGeneration (bfloat16 weights),
    its tokenizer and processor to `path`; returns `path`."""
    import torch
    from transformers import GenerationConfig, Idefics3ForConditionalGeneration

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    processor = build_processor(path)
    config, ids = _model_config(processor.tokenizer)
    torch.manual_seed(0)
    model = Idefics3ForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<s>"],
        eos_token_id=ids[END_OF_UTTERANCE],
        pad_token_id=ids["<pad>"],
    )
    model.save_pretrained(path, safe_serialization=True)
    return path


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """No progress bars or config chatter from transformers while building (restored after)."""
    from transformers.utils import logging as hf_logging

    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def _is_complete(target: Path) -> bool:
    marker = target / MARKER
    return marker.is_file() and json.loads(marker.read_text()).get("build_version") == BUILD_VERSION


def prepare_default_vlm(target: Path | None = None) -> Path:
    """Make sure `target` (default: `default_vlm_dir()`) holds the built model; return it.

    Idempotent: a complete target returns at once. Built beside the target and renamed into
    place, so a directory holding the marker file is always complete.
    """
    target = Path(target) if target is not None else default_vlm_dir()
    if _is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        with _quiet_transformers():
            build_tiny_idefics3(staging)
        for path in [staging, *staging.iterdir()]:  # mkdtemp and safetensors use 0o700/0o600
            path.chmod(0o755 if path.is_dir() else 0o644)
        (staging / MARKER).write_text(json.dumps({"build_version": BUILD_VERSION, "weights": "random"}) + "\n")
        if target.exists() and not _is_complete(target):
            leftover = target.with_name(f".{target.name}.stale-{os.getpid()}")
            target.rename(leftover)
            shutil.rmtree(leftover, ignore_errors=True)
        try:
            staging.rename(target)
        except OSError:
            if not _is_complete(target):  # else another process finished first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def main() -> None:
    """Build the default VLM and print its directory."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = prepare_default_vlm()
    print(f"{path} (random weights: captions from it are gibberish)", file=sys.stderr)
    print(path)


if __name__ == "__main__":
    main()
