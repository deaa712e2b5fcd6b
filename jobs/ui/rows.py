"""What the viewer shows, read through the query layer: committed manifests and their files only.

Paging, filters and search are SQL over the `outputs` view, so a 1M-row run costs one DuckDB
scan per page and never a Python list of its rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from jobs.query import CommittedRun, load_committed_runs, quoted_identifier, register_views
from jobs.ui.inputs import input_rows
from schemas.rows import ERROR_CODE, FINISH_REASON, PROMPT, SAMPLE_INDEX, SCORE_PREFIX, TEXT
from workers.io import storage_for

PAGE_SIZE = 50
SHOWN_LAST = ("prompt_sha256", "generation_key", "model", PROMPT)  # identity columns and the stored prompt: not cells
GENERATED = ("text", "finish_reason", "num_input_tokens", "num_output_tokens", "error_code", "error_message")


@dataclass(frozen=True)
class RowQuery:
    """A page of a run's rows: filters by error code, score range and text, then the page."""

    error_code: str | None = None  # a code, "ok" (no error) or None (every row)
    finish_reason: str | None = None  # "stop", "length" (cut at max_tokens), or None (every row)
    metric: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    search: str | None = None
    page: int = 1
    size: int = PAGE_SIZE


class RowFilters(BaseModel):
    """The run page's query parameters, as its filter form sends them (an empty field is unset)."""

    error_code: str | None = None
    finish_reason: str | None = None
    metric: str | None = None
    min_score: str | None = None
    max_score: str | None = None
    q: str | None = None
    page: int = 1

    def query(self, *, size: int) -> RowQuery:
        return RowQuery(
            error_code=self.error_code or None,
            finish_reason=self.finish_reason or None,
            metric=self.metric or None,
            min_score=_number(self.min_score),
            max_score=_number(self.max_score),
            search=self.q or None,
            page=max(self.page, 1),
            size=size,
        )


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


@dataclass
class Page:
    """One page of rows, with what the page needs around it."""

    columns: list[str]
    carried: list[str]
    scores: list[str]
    rows: list[dict]
    total: int
    query: RowQuery
    error_codes: dict[str, int] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.query.size))


def connection(output_uri: str, job: str, cache=None) -> tuple[duckdb.DuckDBPyConnection, object]:
    """A DuckDB connection with the views over one job's committed runs, and those runs (their
    manifests from `cache` where unchanged)."""
    committed = load_committed_runs(output_uri, job=job, cache=cache)
    con = duckdb.connect()
    register_views(con, committed)
    return con, committed


def run_schema(run: CommittedRun) -> pa.Schema:
    """The run's own data-file schema (the outputs view unions every run's columns)."""
    if not run.files:
        return pa.schema([])
    filesystem, path = storage_for(run.run_dir).arrow_filesystem(run.files[0])
    return pq.read_schema(path, filesystem=filesystem)


def rows_page(con: duckdb.DuckDBPyConnection, run: CommittedRun, query: RowQuery) -> Page:
    """The filtered, paged rows of one run, ordered by id and sample."""
    schema = run_schema(run)
    names = schema.names
    id_column = run.manifest.id_column or (names[0] if names else "row_id")
    scores = [n for n in names if n.startswith(SCORE_PREFIX)]
    carried = [n for n in names if n not in (id_column, SAMPLE_INDEX, *GENERATED, *SHOWN_LAST) and n not in scores]
    where, params = ["job = ?", "run_id = ?"], [run.job, run.run_id]
    if query.error_code == "ok":
        where.append(f"{ERROR_CODE} IS NULL")
    elif query.error_code:
        where.append(f"{ERROR_CODE} = ?")
        params.append(query.error_code)
    if query.finish_reason:
        where.append(f"{FINISH_REASON} = ?")
        params.append(query.finish_reason)
    if query.metric and f"{SCORE_PREFIX}{query.metric}" in scores:
        column = quoted_identifier(f"{SCORE_PREFIX}{query.metric}")
        if query.min_score is not None:
            where.append(f"{column} >= ?")
            params.append(query.min_score)
        if query.max_score is not None:
            where.append(f"{column} <= ?")
            params.append(query.max_score)
    if query.search:
        searched = [
            TEXT,
            "row_id",
            *[
                c
                for c in carried
                if pa.types.is_string(schema.field(c).type) or pa.types.is_large_string(schema.field(c).type)
            ],
        ]
        where.append(
            "("
            + " OR ".join(
                f"contains(lower(coalesce(CAST({quoted_identifier(c)} AS VARCHAR), '')), ?)" for c in searched
            )
            + ")"
        )
        params += [query.search.lower()] * len(searched)
    if not names:
        return Page(columns=[], carried=[], scores=[], rows=[], total=0, query=query)
    clause = " AND ".join(where)
    total = con.execute(f"SELECT count(*) FROM outputs WHERE {clause}", params).fetchone()[0]
    shown = ["row_id", *[quoted_identifier(c) for c in names if c not in (id_column,)]]
    cursor = con.execute(
        f"SELECT {', '.join(shown)} FROM outputs WHERE {clause} ORDER BY row_id, {SAMPLE_INDEX} LIMIT ? OFFSET ?",
        [*params, query.size, (max(query.page, 1) - 1) * query.size],
    )
    columns = [d[0] for d in cursor.description]
    rows = [dict(zip(columns, values, strict=True)) for values in cursor.fetchall()]
    # The filter's choices: failed output rows by code, as the manifest already counts them.
    return Page(
        columns=columns,
        carried=carried,
        scores=scores,
        rows=rows,
        total=total,
        query=query,
        error_codes=dict(sorted(run.manifest.errors.items())),
    )


def age(finished_at: str, now: datetime | None = None) -> str:
    """'3 h ago' from an ISO time."""
    seconds = ((now or datetime.now(UTC)) - datetime.fromisoformat(finished_at)).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{max(int(seconds), 0)} s ago"


# Han, kana and Hangul characters are words of their own in a diff; other runs of letters and
# digits are words, and every space run or punctuation mark is its own piece.
_PIECES = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]|\w+|\s+|[^\w\s]")


def diff_pieces(before: str | None, after: str | None) -> list[tuple[str, str]]:
    """[(kind, text)] with kind 'same', 'del' or 'ins': an inline word diff of two texts."""
    import difflib

    a, b = _PIECES.findall(before or ""), _PIECES.findall(after or "")
    out: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.append(("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(("del", "".join(a[i1:i2])))
        if j2 > j1:
            out.append(("ins", "".join(b[j1:j2])))
    return out


@dataclass(frozen=True)
class Prompt:
    """What a row's model was asked, shown without executing any template: the rendered prompt
    where the run stored it (`output.store_prompts`), else the template's text and the row's
    values of the columns it reads."""

    text: str | None  # the stored rendered prompt
    verified: bool  # its hash equals the row's prompt_sha256
    template: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)  # column -> the row's value, as text
    note: str | None = None


def prompts(run: CommittedRun, rows: list[dict]) -> list[Prompt]:
    """The page's prompts. The viewer never renders a stored template (it could be anything a
    writer of the output root put there): it parses it for the names it reads, and takes their
    values from the row's carried columns or from the run's unchanged input files."""
    from workers.render import prompt_sha256, template_variables

    system, template = run.manifest.task.get("system"), run.manifest.task.get("prompt")
    if rows and PROMPT in rows[0]:
        return [
            Prompt(
                row[PROMPT],
                row[PROMPT] is not None
                and prompt_sha256(system=system, prompt=row[PROMPT]) == row.get("prompt_sha256"),
                note=None if row[PROMPT] is not None else "this row failed before its prompt was rendered",
            )
            for row in rows
        ]
    if not template or not rows:
        return [Prompt(None, False, note="no template in the manifest")] * len(rows)
    try:
        variables = sorted(template_variables(template))
    except Exception:  # a template that does not parse shows as text alone
        variables = []
    missing = [v for v in variables if v not in rows[0]]
    values: dict[str, dict] = {}
    for _, found in input_rows(run, [str(r["row_id"]) for r in rows], missing) if missing else ():
        for row in found.to_pylist():
            values.setdefault(row["row_id"], row)
    out = []
    for row in rows:
        source = {**values.get(str(row["row_id"]), {}), **{v: row[v] for v in variables if v in row}}
        shown = {v: "" if source[v] is None else str(source[v]) for v in variables if v in source}
        gone = [v for v in variables if v not in source]
        out.append(
            Prompt(
                None,
                False,
                template=template,
                inputs=shown,
                note=(
                    f"{', '.join(gone)}: not in the outputs, and the input file changed since the run" if gone else None
                ),
            )
        )
    return out
