"""`pressroom query` (SQL over committed outputs) and `pressroom diff` (two runs of a job)."""

from __future__ import annotations

import argparse
import json
import re
import sys

from jobs.cli.target import add_root_arguments, job_and_run, output_root

FORMATS = ("table", "csv", "json", "parquet")
BATCH_ROWS = 10_000
TABLE_ROWS = 40


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add the commands' parsers to the subcommands."""
    query = sub.add_parser(
        "query",
        parents=[common],
        help="SQL over committed outputs (views: outputs, latest, errors, runs, changes(job, run_a, run_b))",
    )
    query.set_defaults(handler=command)
    query.add_argument("sql", help="a DuckDB query over the views")
    add_root_arguments(query)
    query.add_argument("--job", help="only this job's runs (default: every job under the root)")
    query.add_argument(
        "--format",
        choices=FORMATS,
        default="table",
        help="table (for people), csv, json (one array of row objects), parquet (needs --out)",
    )
    query.add_argument("--json", action="store_true", help="the same as --format json: one JSON array of row objects")
    query.add_argument("--out", help="write the result to this file instead of stdout")
    diff = sub.add_parser("diff", parents=[common], help="rows added, removed and changed between two runs")
    diff.set_defaults(handler=diff_command)
    diff.add_argument("run_a", help="JOB/RUN (RUN may be 'latest')")
    diff.add_argument("run_b", help="JOB/RUN of the same job")
    add_root_arguments(diff)
    diff.add_argument("--limit", type=int, default=50, help="rows listed after the counts (0: all)")
    diff.add_argument("--json", action="store_true", help="print one JSON object: counts, then rows")


def command(args) -> int:
    """Run the query; returns the exit code."""
    import duckdb

    from jobs.errors import SpecError
    from jobs.query import connect

    if args.json:
        args.format = "json"
    if args.format == "parquet" and not args.out:
        raise SpecError("--format parquet needs --out FILE")
    con = connect(output_root(args), job=args.job)
    try:
        relation = con.sql(args.sql)
        if relation is None:  # a statement with no result (SET, CREATE VIEW, ...)
            return 0
        reader = relation.to_arrow_reader(BATCH_ROWS)
    except duckdb.Error as exc:
        raise SpecError(f"query failed: {str(exc).splitlines()[0]}") from None
    with open(args.out, "wb" if args.format == "parquet" else "w") if args.out else _stdout() as out:
        WRITERS[args.format](reader, out)
    return 0


class _stdout:
    def __enter__(self):
        return sys.stdout

    def __exit__(self, *exc):
        sys.stdout.flush()


def _json(reader, out) -> None:
    """Exactly one JSON array of row objects, streamed batch by batch."""
    out.write("[")
    first = True
    for batch in reader:
        for row in batch.to_pylist():
            out.write(("" if first else ",\n") + json.dumps(row, ensure_ascii=False, default=str))
            first = False
    out.write("]\n")


def _csv(reader, out) -> None:
    import io

    import pyarrow.csv as pacsv

    buffer = io.BytesIO()
    with pacsv.CSVWriter(buffer, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)
            out.write(buffer.getvalue().decode())
            buffer.seek(0)
            buffer.truncate()
    out.write(buffer.getvalue().decode())


def _parquet(reader, out) -> None:
    import pyarrow.parquet as pq

    with pq.ParquetWriter(out, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)


def _table(reader, out) -> None:
    """The first rows, aligned, then how many there were."""
    names = reader.schema.names
    shown, total = [], 0
    for batch in reader:
        total += batch.num_rows
        for row in batch.to_pylist():
            if len(shown) < TABLE_ROWS:
                shown.append([_cell(row[n]) for n in names])
    widths = [max([len(n)] + [len(r[i]) for r in shown]) for i, n in enumerate(names)]
    print("  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in shown:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)), file=out)
    more = f" (first {len(shown)} shown)" if total > len(shown) else ""
    print(f"{total} row(s){more}", file=out)


# Control characters (a terminal runs ESC sequences: colours, titles, cursor moves, even links) and
# the invisible marks that reorder text: shown as escapes in `table`, never passed to the terminal.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _cell(value, width: int = 60) -> str:
    text = "NULL" if value is None else str(value).replace("\n", " ").replace("\t", " ")
    text = _CONTROL.sub(lambda found: found.group().encode("unicode_escape").decode(), text)
    return text if len(text) <= width else text[: width - 1] + "…"


WRITERS = {"json": _json, "csv": _csv, "parquet": _parquet, "table": _table}


def diff_command(args) -> int:
    """Print the diff of two runs; returns the exit code."""
    from jobs.errors import SpecError
    from jobs.query import diff_runs

    job_a, run_a = job_and_run(args.run_a)
    job_b, run_b = job_and_run(args.run_b)
    if job_a != job_b:
        raise SpecError(f"diff compares two runs of one job, not {job_a} and {job_b}")
    diff = diff_runs(output_root(args), job_a, run_a, run_b, limit=args.limit or None)
    if args.json:
        print(
            json.dumps(
                {"job": diff.job, "run_a": diff.run_a, "run_b": diff.run_b, "counts": diff.counts, "rows": diff.rows},
                ensure_ascii=False,
                default=str,
            )
        )
        return 0
    counts = diff.counts
    print(
        f"{diff.job}: {diff.run_a} -> {diff.run_b}: {counts['added']} added, {counts['removed']} removed, "
        f"{counts['changed']} changed"
    )
    for row in diff.rows:
        print(
            f"{row['change']:8} {row['row_id']} #{row['sample_index']}: {_cell(row['text_a'], 40)} -> "
            f"{_cell(row['text_b'], 40)}"
        )
    return 0
