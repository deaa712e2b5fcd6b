"""Output rows: the columns every data file has, and the error-code vocabulary."""

from __future__ import annotations

from enum import Enum

import pyarrow as pa


class ErrorCode(str, Enum):
    """Why a row has no usable text. Stable: values never change meaning once shipped."""

    PROMPT_TOO_LONG = "prompt_too_long"
    TEMPLATE_ERROR = "template_error"
    INVALID_TEXT = "invalid_text"
    EMPTY_OUTPUT = "empty_output"
    ENGINE_ERROR = "engine_error"
    INVALID_STRUCTURED_OUTPUT = "invalid_structured_output"
    IMAGE_MISSING = "image_missing"
    IMAGE_UNREADABLE = "image_unreadable"


ERROR_DESCRIPTIONS: dict[ErrorCode, str] = {
    ErrorCode.PROMPT_TOO_LONG: "The rendered prompt does not fit the model's context length.",
    ErrorCode.TEMPLATE_ERROR: "The prompt template failed for this row (e.g. a null value).",
    ErrorCode.INVALID_TEXT: "A text value in this row is not valid UTF-8.",
    ErrorCode.EMPTY_OUTPUT: "The engine returned no text for this row.",
    ErrorCode.ENGINE_ERROR: "The engine raised an error for this row alone.",
    ErrorCode.INVALID_STRUCTURED_OUTPUT: "The output is empty, not JSON, or fails task.output_schema.",
    ErrorCode.IMAGE_MISSING: "The row's image is null, or its path or URI names no object.",
    ErrorCode.IMAGE_UNREADABLE: "The row's image bytes are not an image PIL can open.",
}

SAMPLE_INDEX = pa.field("sample_index", pa.int32())
STRUCTURED_PREFIX = "out_"
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
    pa.field("prompt_sha256", pa.string()),
    pa.field("text", pa.string()),
    pa.field("finish_reason", pa.string()),
    pa.field("num_input_tokens", pa.int64()),
    pa.field("num_output_tokens", pa.int64()),
    pa.field("model", pa.string()),
    pa.field("error_code", pa.string()),
    pa.field("error_message", pa.string()),
]


def output_schema(
    *, id_field: pa.Field, carried: list[pa.Field], structured: list[pa.Field] | None = None
) -> pa.Schema:
    """The Arrow schema of a job's data files: (id, sample_index), carried, generated, structured."""
    return pa.schema([id_field, SAMPLE_INDEX, *carried, *GENERATED_FIELDS, *(structured or [])])
