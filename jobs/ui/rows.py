"""What the viewer shows, read through the query layer: committed manifests and their files only.

Paging, filters and search are SQL over the `outputs` view, so a 1M-row run costs one DuckDB
scan per page and never a Python list of its rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from jobs.query import CommittedRun, load_catalog, register_views
from schemas.rows import ERROR_CODE, SAMPLE_INDEX, SCORE_PREFIX, TEXT
from workers.io import storage_for

PAGE_SIZE = 50
SHOWN_LAST = ("prompt_sha256", "generation_key", "model")  # identity columns, kept out of the table
GENERATED = ("text", "finish_reason", "num_input_tokens", "num_output_tokens", "error_code", "error_message")


@dataclass(frozen=True)
class RowQuery:
    """A page of a run's rows: filters by error code, score range and text, then the page."""

    error_code: str | None = None  # a code, "ok" (no error) or None (every row)
    metric: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    search: str | None = None
    page: int = 1
    size: int = PAGE_SIZE


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


def connection(output_uri: str, job: str) -> tuple[duckdb.DuckDBPyConnection, object]:
    """A DuckDB connection with the views over one job's committed runs, and the catalog."""
    catalog = load_catalog(output_uri, job=job)
    con = duckdb.connect()
    register_views(con, catalog)
    return con, catalog


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
    if query.metric and f"{SCORE_PREFIX}{query.metric}" in scores:
        column = _identifier(f"{SCORE_PREFIX}{query.metric}")
        if query.min_score is not None:
            where.append(f"{column} >= ?")
            params.append(query.min_score)
        if query.max_score is not None:
            where.append(f"{column} <= ?")
            params.append(query.max_score)
    if query.search:
        searched = [TEXT, "row_id", *[c for c in carried if pa.types.is_string(schema.field(c).type)
                                       or pa.types.is_large_string(schema.field(c).type)]]
        where.append("(" + " OR ".join(f"contains(lower(coalesce(CAST({_identifier(c)} AS VARCHAR), '')), ?)"
                                       for c in searched) + ")")
        params += [query.search.lower()] * len(searched)
    if not names:
        return Page(columns=[], carried=[], scores=[], rows=[], total=0, query=query)
    clause = " AND ".join(where)
    total = con.execute(f"SELECT count(*) FROM outputs WHERE {clause}", params).fetchone()[0]
    shown = ["row_id", *[_identifier(c) for c in names if c not in (id_column,)]]
    cursor = con.execute(f"SELECT {', '.join(shown)} FROM outputs WHERE {clause} ORDER BY row_id, {SAMPLE_INDEX} "
                         "LIMIT ? OFFSET ?", [*params, query.size, (max(query.page, 1) - 1) * query.size])
    columns = [d[0] for d in cursor.description]
    rows = [dict(zip(columns, values)) for values in cursor.fetchall()]
    # The filter's choices: failed output rows by code, as the manifest already counts them.
    return Page(columns=columns, carried=carried, scores=scores, rows=rows, total=total, query=query,
                error_codes=dict(sorted(run.manifest.errors.items())))


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def age(finished_at: str, now: datetime | None = None) -> str:
    """'3 h ago' from an ISO time."""
    seconds = ((now or datetime.now(timezone.utc)) - datetime.fromisoformat(finished_at)).total_seconds()
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
    """A row's prompt, rendered again from the manifest's template and the row's carried values."""

    text: str | None
    verified: bool  # its hash equals the row's prompt_sha256
    note: str | None = None


def prompts(run: CommittedRun, rows: list[dict]) -> list[Prompt]:
    """The page's prompts: only when every template variable is a carried column (the outputs do
    not store prompts), checked against each row's prompt_sha256."""
    from workers.render import PromptRenderer, prompt_sha256, template_variables

    template, system = run.manifest.task.get("prompt"), run.manifest.task.get("system")
    if not template or not rows:
        return [Prompt(None, False, "no template in the manifest")] * len(rows)
    variables = sorted(template_variables(template))
    missing = [v for v in variables if v not in rows[0]]
    if missing:
        return [Prompt(None, False, f"the template reads {', '.join(missing)}, not carried into the outputs")] \
            * len(rows)
    table = pa.table({v: pa.array([r[v] for r in rows]) for v in variables}) if variables else \
        pa.table({"_": pa.nulls(len(rows))})
    rendered = PromptRenderer(template=template, system=system, variables=variables).render_table(table)
    out = []
    for row, text in zip(rows, rendered.column("prompt").to_pylist()):
        same = text is not None and prompt_sha256(system=system, prompt=text) == row.get("prompt_sha256")
        note = None if same else ("the image is part of this row's prompt hash" if run.manifest.image_column
                                  else "differs from the prompt the run hashed")
        out.append(Prompt(text, same, note))
    return out
