"""The render stage: sandboxed prompt templates, images for captions, and the Ray read task."""

from workers.render.images import (
    check_image,
    image_prompt_sha256,
    image_roots,
    is_image_column_type,
    load_image,
    load_image_column,
)
from workers.render.keys import generation_keys, run_key
from workers.render.stage import RenderConfig, make_renderer, read_and_render, read_items, render_rows, unit_items
from workers.render.template import (
    PromptRenderer,
    check_template,
    conversation_sha256,
    prompt_sha256,
    template_variables,
)

__all__ = [
    "PromptRenderer",
    "RenderConfig",
    "check_image",
    "check_template",
    "generation_keys",
    "image_prompt_sha256",
    "image_roots",
    "is_image_column_type",
    "load_image",
    "load_image_column",
    "make_renderer",
    "conversation_sha256",
    "prompt_sha256",
    "read_and_render",
    "read_items",
    "render_rows",
    "run_key",
    "template_variables",
    "unit_items",
]
