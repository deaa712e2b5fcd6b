"""Structured outputs: parse generated text as JSON, validate it, split it into typed columns.

Any failure, including the empty string one of vLLM's structured-output backends returns
silently when it breaks, becomes an `invalid_structured_output` error row: never dropped.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pyarrow as pa

from schemas.rows import STRUCTURED_PREFIX, ErrorCode, structured_fields
from workers.engines.base import Result


def parse_result(result: Result, *, validator) -> tuple[Result, dict[str, Any] | None]:
    """The result (turned into an error row if invalid) and its parsed fields."""
    if result.error_code is not None and result.error_code != ErrorCode.EMPTY_OUTPUT.value:
        return result, None
    try:
        value = json.loads(result.text or "")
    except json.JSONDecodeError as exc:
        return _invalid(result, f"not JSON: {exc.msg} at char {exc.pos}"), None
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "(root)"
        return _invalid(result, f"fails output_schema at {where}: {errors[0].message}"), None
    return result, value


def _invalid(result: Result, message: str) -> Result:
    return replace(result, error_code=ErrorCode.INVALID_STRUCTURED_OUTPUT.value, error_message=message)


def structured_columns(results: list[Result], *, output_schema: dict) -> tuple[list[Result], dict[str, pa.Array]]:
    """Validated results and one typed column per top-level property (null where invalid)."""
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator(output_schema)
    parsed = [parse_result(r, validator=validator) for r in results]
    columns: dict[str, pa.Array] = {}
    for field in structured_fields(output_schema):
        name = field.name[len(STRUCTURED_PREFIX) :]
        values = [None if v is None else v.get(name) for _, v in parsed]
        if pa.types.is_string(field.type):
            values = [x if x is None or isinstance(x, str) else json.dumps(x) for x in values]
        columns[field.name] = pa.array(values, field.type)
    return [r for r, _ in parsed], columns
