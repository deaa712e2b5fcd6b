"""Prompt rendering: a sandboxed Jinja2 template, compiled once, rendered once per row.

Row values are data, never template source, so a value containing `{{ }}` stays inert.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from schemas.rows import ERROR_CODE, ERROR_MESSAGE, PROMPT, PROMPT_SHA256, ErrorCode


def _environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)


def template_variables(source: str) -> set[str]:
    """Top-level names a template reads; raises TemplateSyntaxError on a broken template."""
    return meta.find_undeclared_variables(_environment().parse(source))


def check_template(source: str) -> str | None:
    """None if the template compiles, else a one-line reason."""
    try:
        _environment().from_string(source)
    except TemplateSyntaxError as exc:
        return f"line {exc.lineno}: {exc.message}"
    return None


@dataclass(frozen=True)
class RenderedRow:
    """The prompt for one row, or why there is none."""

    prompt: str | None
    error_code: str | None
    error_message: str | None


def prompt_sha256(*, system: str | None, prompt: str) -> str:
    """Hash of what the engine is asked: the system prompt and the rendered prompt."""
    digest = hashlib.sha256()
    digest.update((system or "").encode())
    digest.update(b"\x00")
    digest.update(prompt.encode())
    return digest.hexdigest()


def conversation_sha256(messages: list[tuple[str, str]]) -> str:
    """Hash of a whole conversation, (role, text) turns in order: the prompt part of a generation
    key. A one-turn conversation, (system,) user, hashes as `prompt_sha256` does, so a template
    row keeps its key when the same turns arrive as messages; longer ones hash every turn."""
    roles = [role for role, _ in messages]
    if roles == ["user"]:
        return prompt_sha256(system=None, prompt=messages[0][1])
    if roles == ["system", "user"]:
        return prompt_sha256(system=messages[0][1], prompt=messages[1][1])
    turns = json.dumps([[role, text] for role, text in messages], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(b"messages\x00" + turns.encode()).hexdigest()


def _is_text(data_type: pa.DataType) -> bool:
    return pa.types.is_string(data_type) or pa.types.is_large_string(data_type)


def _decoded_column(column: pa.ChunkedArray) -> list[object]:
    """Python values of a column; a value that is not valid UTF-8 becomes its UnicodeDecodeError."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if _is_text(column.type):
        # Parquet can hold invalid UTF-8 in a string column: decode bytes ourselves per value.
        column = pc.cast(column, pa.large_binary())
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        return [_decode(value) for value in column.to_pylist()]
    try:
        return column.to_pylist()
    except UnicodeDecodeError:  # text nested in lists or structs: find the bad values row by row
        return [_value_or_error(column, i) for i in range(len(column))]


def _decode(value: bytes | None) -> object:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc


def _value_or_error(column: pa.ChunkedArray, index: int) -> object:
    try:
        return column[index].as_py()
    except UnicodeDecodeError as exc:
        return exc


class PromptRenderer:
    """Renders one template over batches of rows."""

    def __init__(self, *, template: str, system: str | None, variables: list[str]):
        self._template = _environment().from_string(template)
        # Template.render merges the template's globals (a ChainMap) into every row's context,
        # which was half the render time; merge them once and build each context from a dict.
        self._globals = dict(self._template.globals)
        self._system = system
        self._variables = variables

    def render_table(self, table: pa.Table) -> pa.Table:
        """prompt, prompt_sha256, error_code and error_message for each row of the table."""
        columns = {name: _decoded_column(table.column(name)) for name in self._variables}
        rows = [self._render_row({n: columns[n][i] for n in columns}) for i in range(table.num_rows)]
        hashes = [
            prompt_sha256(system=self._system, prompt=row.prompt) if row.prompt is not None else None for row in rows
        ]
        return pa.table(
            {
                PROMPT: pa.array([r.prompt for r in rows], pa.string()),
                PROMPT_SHA256: pa.array(hashes, pa.string()),
                ERROR_CODE: pa.array([r.error_code for r in rows], pa.string()),
                ERROR_MESSAGE: pa.array([r.error_message for r in rows], pa.string()),
            }
        )

    def _render_row(self, values: dict[str, object]) -> RenderedRow:
        for name, value in values.items():
            if isinstance(value, UnicodeDecodeError):
                message = f"column {name!r} is not valid UTF-8 at byte {value.start}"
                return RenderedRow(None, ErrorCode.INVALID_TEXT.value, message)
        # Nulls are left undefined so StrictUndefined reports them instead of rendering "None".
        context = {**self._globals, **{name: value for name, value in values.items() if value is not None}}
        try:
            text = "".join(self._template.root_render_func(self._template.new_context(context, shared=True)))
            return RenderedRow(text, None, None)
        except Exception as exc:  # any template failure is this row's problem only
            message = f"{type(exc).__name__}: {exc}"
            return RenderedRow(None, ErrorCode.TEMPLATE_ERROR.value, message)
