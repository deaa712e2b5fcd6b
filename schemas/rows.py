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


ERROR_DESCRIPTIONS: dict[ErrorCode, str] = {
    ErrorCode.PROMPT_TOO_LONG: "The rendered prompt does not fit the model's context length.",
    ErrorCode.TEMPLATE_ERROR: "The prompt template failed for this row (e.g. a null value).",
    ErrorCode.INVALID_TEXT: "A text value in this row is not valid UTF-8.",
    ErrorCode.EMPTY_OUTPUT: "The engine returned no text for this row.",
    ErrorCode.ENGINE_ERROR: "The engine raised an error for this row alone.",
}

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


def output_schema(*, id_field: pa.Field, carried: list[pa.Field]) -> pa.Schema:
    """The Arrow schema of a job's data files: id, carried columns, generated columns."""
    return pa.schema([id_field, *carried, *GENERATED_FIELDS])
