"""A tiny random Idefics3 vision-language model built locally, for tests that need a real
multimodal engine and no hub access (and no torchvision).

The builder lives in `workers.models.default_vlm` (it is also pressroom's `default-vlm` demo model);
this module re-exports it with the test-only helpers: deterministic images and the chat prompt.
`build_tiny_idefics3` writes a deterministic random `Idefics3ForConditionalGeneration` that loads
and greedy-generates in vLLM (CPU) and in transformers with identical token ids (float32).

One image becomes IMAGE_PROMPT_TOKENS prompt tokens in both engines:
`<fake_token_around_image><global-img>` + IMAGE_SEQ_LEN x `<image>` + `<fake_token_around_image>`.
"""

from __future__ import annotations

import random

from workers.models.default_vlm import (  # noqa: F401  (re-exported for tests)
    CHAT_TEMPLATE,
    END_OF_UTTERANCE,
    FAKE_IMAGE_TOKEN,
    GLOBAL_IMAGE_TOKEN,
    IMAGE_PROMPT_TOKENS,
    IMAGE_SEQ_LEN,
    IMAGE_SIZE,
    IMAGE_TOKEN,
    build_processor,
    build_tiny_idefics3,
    build_tokenizer,
)

_SHAPES = ["circle", "square", "triangle", "stripe"]


def make_test_images(count: int, *, seed: int):
    """`count` deterministic RGB images (varied sizes) with a coloured shape on a coloured
    background; same seed, same pixels."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    palette = [
        (220, 30, 30),
        (30, 180, 60),
        (40, 60, 220),
        (240, 220, 40),
        (150, 40, 170),
        (250, 140, 20),
        (250, 250, 250),
        (10, 10, 10),
    ]
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
    return processor_or_tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
