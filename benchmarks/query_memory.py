"""Peak memory of `pressroom query` over 1M committed output rows, locally and on an S3 server (issue 11).

    .venv/bin/python benchmarks/query_memory.py                 # 1M rows, ~300 characters of text each
    .venv/bin/python benchmarks/query_memory.py --rows 20000    # smoke

Builds one job with two committed runs (written by pressroom's own run-state writer) holding
`--rows` output rows between them, on local disk and on a moto S3 server on loopback, then
runs `select count(*), sum(length(text)) from outputs` in fresh processes and reports each
one's peak RSS: plain DuckDB over the same files (the baseline), pressroom's views locally, and
pressroom's views on S3 (a pyarrow dataset on pressroom's S3 filesystem). Target: under 1 GB.
The last line is `ratio=R`: the S3 query's peak over the 1 GiB target.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import PROJECT_ROOT, working_directory

QUERY = "select count(*), sum(length(text)) from outputs"
SHARD_ROWS = 50_000
TARGET_MIB = 1024

CHILD = f"""
import json, resource, sys, time
root, mode = sys.argv[1], sys.argv[2]
began = time.monotonic()
if mode == "plain":
    import duckdb
    files = json.loads(sys.argv[3])
    answer = duckdb.sql("select count(*), sum(length(text)) from read_parquet(" + repr(files) + ")").fetchall()
else:
    from jobs.query import connect
    answer = connect(root).sql({QUERY!r}).fetchall()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"answer": [list(r) for r in answer], "peak_mib": peak, "seconds": time.monotonic() - began}}))
"""


def output_rows(start: int, count: int, rng: np.random.Generator) -> pa.Table:
    from schemas.rows import output_schema

    words = np.array(["night", "report", "market", "storm", "council", "comet", "rail", "museum", "port", "fire"])
    texts = [" ".join(words[rng.integers(0, 10, 50)]) for _ in range(count)]
    ids = [f"r{i:08d}" for i in range(start, start + count)]
    schema = output_schema(id_field=pa.field("id", pa.string()), carried=[])
    return pa.table(
        {
            "id": ids,
            "sample_index": pa.array(np.zeros(count, dtype=np.int32)),
            "prompt_sha256": ["0" * 64] * count,
            "generation_key": ["1" * 64] * count,
            "text": texts,
            "finish_reason": ["length"] * count,
            "num_input_tokens": pa.array(np.full(count, 40)),
            "num_output_tokens": pa.array(np.full(count, 60)),
            "model": ["bench"] * count,
            "error_code": pa.nulls(count, pa.string()),
            "error_message": pa.nulls(count, pa.string()),
        }
    ).cast(schema)


def build(root: str, rows: int) -> tuple[int, int]:
    """Two committed runs of `rows` rows together; returns (rows, total text length)."""
    from jobs.state import RunLayout, commit_manifest, write_shard
    from schemas.manifest import InputFile, Manifest, ModelLineage, Shard, Totals
    from schemas.tally import TallyColumns, sum_records
    from workers.io import storage_for

    storage, rng, text_length = storage_for(root), np.random.default_rng(7), 0
    for run_number, (first, last) in enumerate([(0, rows // 2), (rows // 2, rows)]):
        layout = RunLayout(output_uri=root, job="bench", run_id=f"night-{run_number + 1}")
        records = []
        for shard, start in enumerate(range(first, last, SHARD_ROWS)):
            table = output_rows(start, min(SHARD_ROWS, last - start), rng)
            text_length += sum(len(t) for t in table.column("text").to_pylist())
            records.append(
                write_shard(
                    storage,
                    layout,
                    Shard(
                        index=shard,
                        input_file="/bench.parquet",
                        row_start=start - first,
                        row_end=start - first + table.num_rows,
                    ),
                    table,
                    columns=TallyColumns(id_column="id"),
                    attempt=1,
                )
            )
        totals, errors, _ = sum_records(records, references={})
        commit_manifest(
            storage,
            layout,
            Manifest(
                job="bench",
                run_id=layout.run_id,
                status="succeeded",
                spec_sha256="0" * 64,
                created_at="2026-12-01T02:00:00+00:00",
                finished_at=f"2026-12-0{run_number + 1}T03:00:00+00:00",
                task={"kind": "summary"},
                model=ModelLineage(
                    source="bench", path="/bench", sha256="0" * 64, engine="vllm", engine_version="bench"
                ),
                sampling={},
                inputs=[InputFile(uri="/bench.parquet", rows=last - first, bytes=0)],
                files=[r.file for r in records],
                totals=Totals(**totals),
                errors=errors,
                timings={},
                code_version="bench",
                id_column="id",
            ),
        )
    return rows, text_length


def measure(root: str, mode: str, *extra: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, root, mode, *extra],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=1800,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    if done.returncode != 0:
        raise SystemExit(f"{mode} query failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    from tests.s3 import running_moto_server

    with working_directory(args.workdir, prefix="pressroom-query-") as workdir, running_moto_server() as (url, _):
        os.environ.update(
            AWS_ENDPOINT_URL=url,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_REGION="us-east-1",
            AWS_EC2_METADATA_DISABLED="true",
        )
        import boto3

        boto3.session.Session().client("s3", endpoint_url=url, region_name="us-east-1").create_bucket(Bucket="bench")
        began = time.monotonic()
        local = str(workdir / "out")
        expected = build(local, args.rows)
        build("s3://bench/out", args.rows)
        print(
            f"input: {args.rows} output rows in 2 committed runs, {SHARD_ROWS}-row files, local and on moto S3 "
            f"(built in {time.monotonic() - began:.0f} s); query: {QUERY}",
            flush=True,
        )
        files = sorted(str(p) for p in Path(local).rglob("shard-*.parquet"))
        results = {
            "plain duckdb, local files": measure(local, "plain", json.dumps(files)),
            "pressroom query, local": measure(local, "views"),
            "pressroom query, s3": measure("s3://bench/out", "views"),
        }
        for name, result in results.items():
            if [tuple(r) for r in result["answer"]] != [expected]:
                raise SystemExit(f"{name}: answered {result['answer']}, expected {expected}")
            print(f"{name:28} peak RSS {result['peak_mib']:7.0f} MiB  {result['seconds']:6.1f} s  answer {expected}")
        s3 = results["pressroom query, s3"]["peak_mib"]
        local_peak = results["pressroom query, local"]["peak_mib"]
        print(
            f"pressroom local / plain duckdb peak: {local_peak / results['plain duckdb, local files']['peak_mib']:.2f}"
        )
        print(f"ratio={s3 / TARGET_MIB:.3f}")


if __name__ == "__main__":
    main()
