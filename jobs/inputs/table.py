"""Check the input table before any model loads: files, columns, types, ids, adapter names."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.errors import InputError
from schemas.manifest import InputFile
from schemas.rows import GENERATED_FIELDS, PROMPT_FIELD, SAMPLE_INDEX_FIELD, score_fields, structured_fields
from schemas.spec import JobSpec
from workers.io import Storage, open_parquet, storage_for
from workers.render import is_image_column_type, template_variables

ID_BATCH_ROWS = 65536  # ids held at a time while checking them


@dataclass(frozen=True)
class InputTable:
    """What the driver learned about the input: files, their identity, the columns to read."""

    files: list[InputFile]
    schema: pa.Schema
    read_columns: list[str]
    template_columns: list[str]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


def _input_files(storage: Storage, uri: str) -> list[str]:
    if storage.is_dir(uri):
        files = [f for f in storage.list_files(uri) if f.endswith(".parquet")]
        if not files:
            raise InputError(f"input directory {uri} holds no .parquet files")
        return files
    if not storage.exists(uri):
        hint = "" if "://" in uri else " (a relative input.uri resolves against the spec file's folder)"
        raise InputError(f"input file not found: {uri}{hint}")
    return [uri]


def _id_batches(storage: Storage, uri: str, id_column: str) -> Iterator[list]:
    """The file's ids, ID_BATCH_ROWS at a time (the driver never holds a whole id column)."""
    try:
        for batch in open_parquet(storage, uri).iter_batches(batch_size=ID_BATCH_ROWS, columns=[id_column]):
            yield batch.column(0).to_pylist()
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"input file {uri} is corrupt (reading column {id_column!r}): {exc}") from None


def _check_ids(storage: Storage, files: list[str], id_column: str) -> None:
    """No null and no duplicated id across the files, in memory of 8 bytes per row: a first pass
    keeps one int64 hash per id, a second pass looks at the ids whose hash repeats."""
    hashes = []
    for uri in files:
        nulls = nans = 0
        for ids in _id_batches(storage, uri, id_column):
            nulls += ids.count(None)
            nans += sum(1 for v in ids if isinstance(v, float) and v != v)  # NaN equals nothing, itself included
            hashes.append(np.fromiter((hash(v) for v in ids), dtype=np.int64, count=len(ids)))
        if nulls or nans:
            found = ", ".join(f"{count} {what}" for count, what in ((nulls, "null(s)"), (nans, "NaN(s)")) if count)
            raise InputError(f"input file {uri}: id column {id_column!r} has {found}")
    if not hashes:
        return
    ordered = np.concatenate(hashes)
    del hashes
    ordered.sort()
    repeated = set(ordered[1:][ordered[1:] == ordered[:-1]].tolist())
    if not repeated:
        return
    seen: dict[object, list[str]] = {}  # candidate id -> files holding it, once per occurrence
    for uri in files:
        for ids in _id_batches(storage, uri, id_column):
            for value in ids:
                if hash(value) in repeated:
                    seen.setdefault(value, []).append(uri)
    duplicated = [value for value, holders in seen.items() if len(holders) > 1]
    if duplicated:
        examples = ", ".join(repr(v) for v in duplicated[:5])
        holders = list(dict.fromkeys(uri for value in duplicated for uri in seen[value]))
        raise InputError(
            f"input file(s) {', '.join(holders[:5])}: id column {id_column!r} has "
            f"{len(duplicated)} duplicated value(s), e.g. {examples}"
        )


def _check_adapter_names(storage: Storage, files: list[str], column: str, *, known: set[str]) -> None:
    for uri in files:
        try:
            values = open_parquet(storage, uri).read(columns=[column]).column(column)
        except (pa.ArrowException, OSError) as exc:
            raise InputError(f"input file {uri} is corrupt (reading column {column!r}): {exc}") from None
        unknown = sorted({v for v in pc.unique(values).to_pylist() if v is not None} - known)
        if unknown:
            raise InputError(
                f"input file {uri}: column {column!r} names adapters not in model.adapters: "
                f"{', '.join(map(repr, unknown[:5]))} (known: {', '.join(sorted(known))})"
            )


def _check_reserved(spec: JobSpec, uri: str) -> None:
    """Columns copied into the output must not share a name with a column pressroom adds."""
    scores = score_fields(list(spec.quality.metrics)) if spec.quality else []
    prompts = [PROMPT_FIELD] if spec.output.store_prompts else []
    reserved = {
        f.name
        for f in [*GENERATED_FIELDS, SAMPLE_INDEX_FIELD, *structured_fields(spec.task.output_schema), *scores, *prompts]
    }
    copied = {
        spec.input.id_column: "input.id_column",
        **dict.fromkeys(spec.input.columns, "input.columns"),
        **dict.fromkeys(spec.task.reference_columns.values(), "task.reference_columns"),
    }
    for column, field in copied.items():
        if column in reserved:
            raise InputError(
                f"input file {uri}: column {column!r} ({field}) has the name of an output column "
                "pressroom writes; rename it in the input or leave it out of the output"
            )


def _check_id_type(spec: JobSpec, uri: str, schema: pa.Schema) -> None:
    """Ids are scalars (text, numbers, dates, bytes): outputs are keyed, joined and linked by them."""
    kind = schema.field(spec.input.id_column).type
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_nested(kind):
        raise InputError(
            f"input file {uri}: id column {spec.input.id_column!r} (input.id_column) is {kind}; ids must "
            "be scalars: strings, integers, decimals, dates or bytes"
        )


def _check_image_type(spec: JobSpec, uri: str, schema: pa.Schema) -> None:
    column = spec.input.image_column
    if column and not is_image_column_type(schema.field(column).type):
        raise InputError(
            f"input file {uri}: column {column!r} (input.image_column) is {schema.field(column).type}; "
            "it must hold image bytes (binary) or image paths/URIs (string)"
        )


def inspect_input(spec: JobSpec) -> InputTable:
    """Validate files, columns and ids; raises InputError naming the file and column."""
    storage = storage_for(spec.input.uri)
    uris = _input_files(storage, spec.input.uri)
    template_columns = sorted(template_variables(spec.task.prompt or ""))
    needed = {"id_column": [spec.input.id_column], "input.columns": list(spec.input.columns)}
    needed["task.prompt"] = template_columns
    needed["model.adapter_column"] = [spec.model.adapter_column] if spec.model.adapter_column else []
    needed["task.reference_columns"] = sorted(set(spec.task.reference_columns.values()))
    needed["quality.reference_column"] = [spec.quality.reference_column] if spec.quality else []
    needed["input.image_column"] = [spec.input.image_column] if spec.input.image_column else []
    files: list[InputFile] = []
    schema: pa.Schema | None = None
    for uri in uris:
        parquet = open_parquet(storage, uri)
        file_schema = parquet.schema_arrow
        for field_name, columns in needed.items():
            for column in columns:
                if column not in file_schema.names:
                    raise InputError(
                        f"input file {uri} has no column {column!r} (needed by {field_name}); "
                        f"columns: {', '.join(file_schema.names)}"
                    )
        _check_id_type(spec, uri, file_schema)
        _check_image_type(spec, uri, file_schema)
        schema = schema or file_schema
        for column in {c for columns in needed.values() for c in columns}:
            if not file_schema.field(column).type.equals(schema.field(column).type):
                raise InputError(
                    f"input file {uri}: column {column!r} is {file_schema.field(column).type}, "
                    f"but {uris[0]} has {schema.field(column).type}"
                )
        info = storage.stat(uri)
        files.append(
            InputFile(
                uri=uri,
                rows=parquet.metadata.num_rows,
                bytes=info.size,
                mtime_ns=info.mtime_ns,
                etag=info.etag,
            )
        )
    _check_reserved(spec, uris[0])
    _check_ids(storage, uris, spec.input.id_column)
    if spec.model.adapter_column:
        _check_adapter_names(storage, uris, spec.model.adapter_column, known=set(spec.model.adapters))
    extra = [
        c
        for c in [
            spec.model.adapter_column,
            *spec.task.reference_columns.values(),
            spec.quality.reference_column if spec.quality else None,
            spec.input.image_column,
        ]
        if c
    ]
    read_columns = list(dict.fromkeys([spec.input.id_column, *spec.input.columns, *template_columns, *extra]))
    return InputTable(files=files, schema=schema, read_columns=read_columns, template_columns=template_columns)
