"""How fast the viewer's pages are on a 1M-row run (issue 16): paging, filters and search in DuckDB.

    .venv/bin/python benchmarks/ui_pages.py                 # 1M rows
    .venv/bin/python benchmarks/ui_pages.py --rows 20000    # smoke

Builds one committed run of `--rows` output rows (pressroom's own run-state writer), then times
the run page through the app (in-process HTTP client, each page fetched 3 times, the median
kept): the first page, a page in the middle, the last page, an error-code filter, a text search,
and the compare page of that run against a copy of it with 1% of texts changed. The baseline,
measured in the same run, is the middle page as a hand-written DuckDB query over the run's files
(`select * ... order by id limit 50 offset N`). The last line is `ratio=R`: the slowest page
over that baseline.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.query_memory import SHARD_ROWS, output_rows

REPEATS = 3


def commit(root: str, run_id: str, rows: int, *, edit_every: int | None = None, finished_at: str) -> list[str]:
    """One committed run of `rows` rows (every `edit_every`-th text changed); returns its files."""
    from jobs.state import RunLayout, commit_manifest, write_shard
    from schemas.manifest import InputFile, Manifest, ModelLineage, Shard, Totals
    from schemas.tally import TallyColumns, sum_records
    from workers.io import storage_for

    storage, rng = storage_for(root), np.random.default_rng(7)
    layout = RunLayout(output_uri=root, job="bench", run_id=run_id)
    records = []
    for shard, start in enumerate(range(0, rows, SHARD_ROWS)):
        table = output_rows(start, min(SHARD_ROWS, rows - start), rng)
        if edit_every:
            texts = table.column("text").to_pylist()
            texts = [t + " (edited)" if (start + i) % edit_every == 0 else t for i, t in enumerate(texts)]
            table = table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts))
        records.append(
            write_shard(
                storage,
                layout,
                Shard(index=shard, input_file="/bench.parquet", row_start=start, row_end=start + table.num_rows),
                table,
                columns=TallyColumns(id_column="id"),
                attempt=1,
            )
        )
    totals, errors, _ = sum_records(records, references={})
    manifest = Manifest(
        job="bench",
        run_id=run_id,
        status="succeeded",
        created_at=finished_at,
        finished_at=finished_at,
        spec_sha256="0" * 64,
        task={"kind": "summary", "prompt": "{{ body }}"},
        model=ModelLineage(source="bench", path="/bench", sha256="0" * 64, engine="vllm", engine_version="bench"),
        sampling={"temperature": 0},
        inputs=[InputFile(uri="/bench.parquet", rows=rows, bytes=0)],
        files=[r.file for r in records],
        id_column="id",
        totals=Totals(**totals, rows_generated=rows),
        errors=errors,
        timings={"generate": 1.0},
        code_version="bench",
    )
    commit_manifest(storage, layout, manifest)
    return [f"{layout.run_dir}/{r.file.path}" for r in records]


def timed(fetch) -> float:
    """Median seconds of REPEATS calls."""
    seconds = []
    for _ in range(REPEATS):
        began = time.perf_counter()
        fetch()
        seconds.append(time.perf_counter() - began)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()

    import duckdb
    from fastapi.testclient import TestClient

    from jobs.ui import create_app
    from jobs.ui.rows import PAGE_SIZE

    with tempfile.TemporaryDirectory() as scratch:
        root = str(Path(scratch) / "out")
        began = time.monotonic()
        commit(root, "night-1", args.rows, finished_at="2026-12-01T02:00:00+00:00")
        files = commit(root, "night-2", args.rows, edit_every=100, finished_at="2026-12-02T02:00:00+00:00")
        print(f"built 2 runs of {args.rows} rows in {time.monotonic() - began:.1f} s", flush=True)

        last = -(-args.rows // PAGE_SIZE)

        def plain() -> None:
            duckdb.sql(
                f"select * from read_parquet({files!r}) order by id, sample_index limit {PAGE_SIZE} "
                f"offset {(last // 2 - 1) * PAGE_SIZE}"
            ).fetchall()

        baseline = timed(plain)
        client = TestClient(create_app(root), base_url="http://127.0.0.1")  # the viewer answers its own host names only
        run = "/jobs/bench/runs/night-2"
        pages = {
            "first page": run,
            "middle page": f"{run}?page={last // 2}",
            "last page": f"{run}?page={last}",
            "error filter": f"{run}?error_code=engine_error",
            "text search": f"{run}?q=edited",
            "compare (1% changed)": "/jobs/bench/compare",
        }
        print(f"{'page':<22} {'seconds':>8} {'x baseline':>10}")
        print(f"{'plain DuckDB page':<22} {baseline:>8.3f} {1.0:>10.2f}")
        worst = 0.0
        for name, url in pages.items():

            def fetch(url=url):
                response = client.get(url)
                assert response.status_code == 200, (url, response.status_code, response.text[-500:])

            seconds = timed(fetch)
            worst = max(worst, seconds)
            print(f"{name:<22} {seconds:>8.3f} {seconds / baseline:>10.2f}", flush=True)
        print(f"ratio={worst / baseline:.3f}")


if __name__ == "__main__":
    main()
