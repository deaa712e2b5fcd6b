"""Row columns and the error-code vocabulary: the one owner of every column name.

Output columns are what data files hold; stage columns (leading underscore) travel between the
render stage, the generation actors and the driver, and are dropped before rows are written.
"""

from __future__ import annotations

from enum import StrEnum

import pyarrow as pa


class ErrorCode(StrEnum):
    """Why a row has no usable text. Stable: values never change meaning once shipped."""

    PROMPT_TOO_LONG = "prompt_too_long"
    TEMPLATE_ERROR = "template_error"
    INVALID_TEXT = "invalid_text"
    EMPTY_OUTPUT = "empty_output"
    ENGINE_ERROR = "engine_error"
    INVALID_STRUCTURED_OUTPUT = "invalid_structured_output"
    IMAGE_MISSING = "image_missing"
    IMAGE_UNREADABLE = "image_unreadable"
    IMAGE_NOT_ALLOWED = "image_not_allowed"


# Codes `pressroom retry` generates again (the others are copied: they would fail the same way).
RETRYABLE_ERRORS = frozenset(
    {ErrorCode.ENGINE_ERROR.value, ErrorCode.EMPTY_OUTPUT.value, ErrorCode.INVALID_STRUCTURED_OUTPUT.value}
)

# Codes the render stage gives: such a row never reaches an engine.
RENDER_ERRORS = frozenset(
    {
        ErrorCode.TEMPLATE_ERROR.value,
        ErrorCode.INVALID_TEXT.value,
        ErrorCode.IMAGE_MISSING.value,
        ErrorCode.IMAGE_UNREADABLE.value,
        ErrorCode.IMAGE_NOT_ALLOWED.value,
    }
)

ERROR_DESCRIPTIONS: dict[ErrorCode, str] = {
    ErrorCode.PROMPT_TOO_LONG: "The rendered prompt does not fit the model's context length.",
    ErrorCode.TEMPLATE_ERROR: "The prompt template failed for this row (e.g. a null value).",
    ErrorCode.INVALID_TEXT: "A text value in this row is not valid UTF-8.",
    ErrorCode.EMPTY_OUTPUT: "The engine returned no text for this row.",
    ErrorCode.ENGINE_ERROR: "The engine raised an error for this row alone.",
    ErrorCode.INVALID_STRUCTURED_OUTPUT: "The output is empty, not JSON, or fails task.output_schema.",
    ErrorCode.IMAGE_MISSING: "The row's image is null, or its path or URI names no object.",
    ErrorCode.IMAGE_UNREADABLE: "The row's image bytes are not an image PIL can open.",
    ErrorCode.IMAGE_NOT_ALLOWED: "The row's image path is outside the allowed roots (the input's own directory "
    "or bucket, and input.image_roots); nothing was read.",
}

# Output columns.
SAMPLE_INDEX = "sample_index"
PROMPT_SHA256 = "prompt_sha256"
GENERATION_KEY = "generation_key"  # hash of everything that changes the row's output (workers.render.keys)
TEXT = "text"
FINISH_REASON = "finish_reason"
NUM_INPUT_TOKENS = "num_input_tokens"
NUM_OUTPUT_TOKENS = "num_output_tokens"
MODEL = "model"
ERROR_CODE = "error_code"
ERROR_MESSAGE = "error_message"
STRUCTURED_PREFIX = "out_"
SCORE_PREFIX = "score_"  # score_rouge_l, score_bleu, score_chrf (float64; null on error rows)

# Stage columns: render -> actors -> driver, never written.
PROMPT = "prompt"  # the rendered prompt (an output column too, with output.store_prompts)
ADAPTER = "_adapter"  # per-row adapter name; null means the base model
IMAGE = "_image"  # per-row image bytes (checked by the render stage); null means text only
SHARD = "_shard"  # the row's shard index
ROW = "_row"  # the row's number in its input file
GEN_START = "_gen_start"  # wall-clock marks of the actor call that generated the row
GEN_END = "_gen_end"
ENGINE_LOAD = "_engine_load_s"  # seconds the actor's engine took to load
NODE = "_node"  # the Ray node, actor and actor incarnation that generated the row
ACTOR = "_actor"
INCARNATION = "_incarnation"
REFERENCE = "_reference"  # the row's quality reference text, scored by the driver

SAMPLE_INDEX_FIELD = pa.field(SAMPLE_INDEX, pa.int32())
_JSON_TYPES = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}


def structured_fields(output_schema: dict | None) -> list[pa.Field]:
    """Typed columns for an output schema's top-level properties; objects and arrays as JSON text."""
    if not output_schema:
        return []
    fields = []
    for name, prop in output_schema.get("properties", {}).items():
        json_type = prop.get("type")
        if json_type is None and "enum" in prop:
            json_type = "string" if all(isinstance(v, str) for v in prop["enum"]) else None
        fields.append(pa.field(f"{STRUCTURED_PREFIX}{name}", _JSON_TYPES.get(json_type, pa.string())))
    return fields


# Columns pressroom adds after the id and the carried columns, in this order.
GENERATED_FIELDS: list[pa.Field] = [
    pa.field(PROMPT_SHA256, pa.string()),
    pa.field(GENERATION_KEY, pa.string()),
    pa.field(TEXT, pa.string()),
    pa.field(FINISH_REASON, pa.string()),
    pa.field(NUM_INPUT_TOKENS, pa.int64()),
    pa.field(NUM_OUTPUT_TOKENS, pa.int64()),
    pa.field(MODEL, pa.string()),
    pa.field(ERROR_CODE, pa.string()),
    pa.field(ERROR_MESSAGE, pa.string()),
]


def score_fields(metrics: list[str]) -> list[pa.Field]:
    """One float column per quality metric."""
    return [pa.field(f"{SCORE_PREFIX}{m}", pa.float64()) for m in metrics]


PROMPT_FIELD = pa.field(PROMPT, pa.string())  # with output.store_prompts: the rendered prompt, after its hash


def output_schema(
    *,
    id_field: pa.Field,
    carried: list[pa.Field],
    structured: list[pa.Field] | None = None,
    scores: list[pa.Field] | None = None,
    prompts: bool = False,
) -> pa.Schema:
    """The Arrow schema of a job's data files: (id, sample_index), carried, generated (with the
    rendered prompt after its hash when `prompts`), structured, scores."""
    generated = [*GENERATED_FIELDS[:1], PROMPT_FIELD, *GENERATED_FIELDS[1:]] if prompts else GENERATED_FIELDS
    return pa.schema([id_field, SAMPLE_INDEX_FIELD, *carried, *generated, *(structured or []), *(scores or [])])
