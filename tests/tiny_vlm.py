"""A tiny random Idefics3 vision-language model built locally, for tests that need a real
multimodal engine and no hub access (and no torchvision).

`build_tiny_idefics3` writes a deterministic random `Idefics3ForConditionalGeneration` (a 2-layer
SigLIP-style vision tower on 64x64 images, a pixel-shuffle connector and a 2-layer Llama with
head_dim 64), a locally trained byte-level BPE tokenizer with the Idefics3 special tokens, and an
`Idefics3Processor` around the PIL-only `Idefics3ImageProcessorPil` (image splitting off). It loads
and greedy-generates in vLLM (CPU) and in transformers with identical token ids (float32).

One image becomes IMAGE_PROMPT_TOKENS prompt tokens in both engines:
`<fake_token_around_image><global-img>` + IMAGE_SEQ_LEN x `<image>` + `<fake_token_around_image>`.
"""

from __future__ import annotations

import random
from pathlib import Path

from tests.tiny_models import corpus_lines

IMAGE_TOKEN = "<image>"
FAKE_IMAGE_TOKEN = "<fake_token_around_image>"
GLOBAL_IMAGE_TOKEN = "<global-img>"
END_OF_UTTERANCE = "<end_of_utterance>"
ROW_COL_TOKENS = [f"<row_{i + 1}_col_{j + 1}>" for i in range(6) for j in range(6)]

SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<unk>", FAKE_IMAGE_TOKEN, IMAGE_TOKEN, END_OF_UTTERANCE,
                  GLOBAL_IMAGE_TOKEN, *ROW_COL_TOKENS]

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


def _tokenizer_corpus() -> list[str]:
    rng = random.Random(1)
    extra = [
        f"User: Describe the image. Assistant: A {rng.choice(_COLOURS)} {rng.choice(_SHAPES)} on a "
        f"{rng.choice(_COLOURS)} background."
        for _ in range(200)
    ]
    return corpus_lines(seed=0, count=400) + extra


def build_tokenizer(path: Path):
    """Train a byte-level BPE tokenizer with the Idefics3 special tokens and save it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(_tokenizer_corpus(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token="<s>",
        eos_token=END_OF_UTTERANCE,
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=[FAKE_IMAGE_TOKEN, IMAGE_TOKEN, END_OF_UTTERANCE,
                                   GLOBAL_IMAGE_TOKEN, *ROW_COL_TOKENS],
        model_max_length=2048,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_processor(path: Path):
    """The PIL image processor (no torchvision) and the Idefics3 processor, saved to `path`."""
    from transformers import Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    tokenizer = build_tokenizer(path)
    image_processor = Idefics3ImageProcessorPil(
        do_image_splitting=False,
        size={"longest_edge": IMAGE_SIZE},
        max_image_size={"longest_edge": IMAGE_SIZE},
    )
    processor = Idefics3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_len=IMAGE_SEQ_LEN,
        chat_template=CHAT_TEMPLATE,
    )
    processor.save_pretrained(path)  # also writes the tokenizer files
    return processor


def build_tiny_idefics3(path: Path) -> Path:
    """Write a deterministic tiny random Idefics3ForConditionalGeneration (bfloat16 weights),
    its tokenizer and processor to `path`; returns `path`."""
    import torch
    from transformers import (GenerationConfig, Idefics3Config, Idefics3ForConditionalGeneration,
                              LlamaConfig)

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    processor = build_processor(path)
    tokenizer = processor.tokenizer
    vocab_size = len(tokenizer)
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in SPECIAL_TOKENS}
    assert all(isinstance(i, int) and i < vocab_size for i in ids.values()), ids

    text_config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        # head_dim 64: vLLM's CPU attention kernels reject head_dim 16.
        num_attention_heads=4,
        num_key_value_heads=4,
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
    torch.manual_seed(0)
    model = Idefics3ForConditionalGeneration(config).to(torch.bfloat16)
    model.generation_config = GenerationConfig(
        bos_token_id=ids["<s>"],
        eos_token_id=ids[END_OF_UTTERANCE],
        pad_token_id=ids["<pad>"],
    )
    model.save_pretrained(path, safe_serialization=True)
    return path


def make_test_images(count: int, *, seed: int):
    """`count` deterministic RGB images (varied sizes) with a coloured shape on a coloured
    background; same seed, same pixels."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    palette = [(220, 30, 30), (30, 180, 60), (40, 60, 220), (240, 220, 40), (150, 40, 170),
               (250, 140, 20), (250, 250, 250), (10, 10, 10)]
    images = []
    for _ in range(count):
        width, height = rng.choice([(64, 64), (96, 64), (64, 80), (128, 128), (50, 70)])
        background, foreground = rng.sample(palette, 2)
        image = Image.new("RGB", (width, height), background)
        draw = ImageDraw.Draw(image)
        x0, y0 = rng.randint(0, width // 3), rng.randint(0, height // 3)
        x1, y1 = rng.randint(2 * width // 3, width - 1), rng.randint(2 * height // 3, height - 1)
        shape = rng.choice(_SHAPES)
        if shape == "circle":
            draw.ellipse((x0, y0, x1, y1), fill=foreground)
        elif shape == "square":
            draw.rectangle((x0, y0, x1, y1), fill=foreground)
        elif shape == "triangle":
            draw.polygon([(x0, y1), ((x0 + x1) // 2, y0), (x1, y1)], fill=foreground)
        else:
            for x in range(0, width, 8):
                draw.rectangle((x, 0, x + 3, height), fill=foreground)
        images.append(image)
    return images


def idefics3_prompt(processor_or_tokenizer, text: str) -> str:
    """The chat prompt with one image part then `text`, rendered with the generation prompt.

    It contains a single `<image>` placeholder: pass the string as-is to both
    `processor(text=..., images=[image])` (transformers) and
    `{"prompt": ..., "multi_modal_data": {"image": image}}` (vLLM); each engine expands the
    placeholder to IMAGE_PROMPT_TOKENS tokens itself.
    """
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]}]
    return processor_or_tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                      tokenize=False)
