"""The pipeline's own ceiling: a pressroom job with a zero-cost engine vs. one plain process.

    python benchmarks/pipeline_ceiling.py --rows 100000
    python benchmarks/pipeline_ceiling.py --rows 1000000     # the memory target (peak RSS)

Side "job": `jobs.run.run_job` on local Ray, engine "vllm" replaced in every Ray worker by
`benchmarks.null_engine.NullEngine`: read -> render -> (no generation) -> write -> commit.
Side "plain": one Python process doing the same work directly: pyarrow reads the file in
shard-sized batches, the same `PromptRenderer` renders and hashes, pyarrow writes zstd Parquet.
Side "floor": Ray Data's own floor for the job's graph, the same read units, read tasks and
actor pool doing none of the work (the read tasks only read, the actor hands batches back, the
driver counts rows): what Ray Data costs here before pressroom does anything.
Each side runs in a fresh process. Prints rows/s for all three, peak RSS of the job's driver and
of its Ray processes, and last `ratio=<job rows/s / plain rows/s>`.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import (
    RssSampler,
    child_main,
    exit_on_sigterm,
    peak_rss_mib,
    run_child,
    start_ray,
    working_directory,
)

TEMPLATE = "Summarize: {{ title }}. {{ body }}"
TOPICS = ["revenue", "weather", "football", "a new phone", "the city council", "a comet", "rail fares"]


def write_input(path: Path, *, rows: int, row_group_rows: int) -> int:
    """A deterministic prompt table (id, title, body, score), one row group per `row_group_rows`
    rows; returns the number of row groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("id", pa.string()), ("title", pa.string()), ("body", pa.string()), ("score", pa.int64())])
    chunk = row_group_rows
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, chunk):
            ids = range(start, min(start + chunk, rows))
            table = pa.table(
                {
                    "id": [f"r{i:08d}" for i in ids],
                    "title": [f"Story {i} about {TOPICS[i % len(TOPICS)]}" for i in ids],
                    "body": [
                        " ".join(f"{TOPICS[(i + k) % len(TOPICS)]} moved" for k in range(1 + i % 23)) for i in ids
                    ],
                    "score": list(ids),
                },
                schema=schema,
            )
            writer.write_table(table, row_group_size=row_group_rows)
    return pq.ParquetFile(path).metadata.num_row_groups


def job_spec_dict(job: dict) -> dict:
    return {
        "name": "ceiling",
        "input": {
            "uri": job["input"],
            "id_column": "id",
            "columns": ["title", "score"],
            "rows_per_shard": job["rows_per_shard"],
        },
        "task": {"kind": "custom", "prompt": TEMPLATE},
        "model": {"engine": "vllm", "source": job["null_model"]},
        "sampling": {"temperature": 0.0, "max_tokens": 1},
        "output": {"uri": job["output"]},
        "resources": {"replicas": 1, "batch_size": job["batch_size"]},
    }


def child_job(job: dict) -> dict:
    """The pressroom job with the null engine; Ray started here so its cost is reported apart."""
    import ray

    from jobs.run import Progress, RunOptions, run_job
    from schemas.spec import JobSpec

    imported = time.time()
    ray_seconds = start_ray(setup_hook="benchmarks.null_engine.install")
    spec = JobSpec.model_validate(job_spec_dict(job))
    stamps: list[float] = []
    memory = DriverMemory(rows=job["rows"])

    def on_update(progress: Progress) -> None:
        stamps.append(time.time())
        memory.see(progress.rows_done)

    progress = Progress(rows_total=0, on_update=on_update)
    with RssSampler() as sampler:
        began = time.time()
        # A fresh run id: a reused --workdir never resumes.
        result = run_job(spec, options=RunOptions(progress=progress))
        ended = time.time()
    ray.shutdown()
    manifest = result.manifest
    return {
        "rows": manifest.totals.rows_in,
        "rows_ok": manifest.totals.rows_ok,
        "output_tokens": manifest.totals.output_tokens,
        "errors": manifest.errors,
        "files": [str(Path(result.manifest_uri).parent / f.path) for f in manifest.files],
        "seconds": ended - began,
        "ray_start": ray_seconds,
        "startup": imported - job["spawned_at"],
        "first_shard_written": (stamps[0] - began) if stamps else None,
        "timings": manifest.timings,
        "driver_peak_rss_mib": peak_rss_mib(),
        "rss": sampler.by_role(),
        "driver_memory": memory.marks,
    }


class DriverMemory:
    """The driver's memory each time another tenth of the rows is written: private (its own
    heap) and shared (pages of Ray's object store it has mapped while reading output blocks)."""

    def __init__(self, *, rows: int):
        import psutil

        self._process = psutil.Process()
        self._step = max(1, rows // 10)
        self._next = self._step
        self.marks: list[dict[str, float]] = []

    def see(self, rows_done: int) -> None:
        if rows_done < self._next:
            return
        self._next = (rows_done // self._step + 1) * self._step
        memory = self._process.memory_info()
        self.marks.append(
            {
                "rows": rows_done,
                "private_mib": (memory.rss - memory.shared) / 2**20,
                "shared_mib": memory.shared / 2**20,
            }
        )


def child_floor(job: dict) -> dict:
    """Ray Data's own floor for the job's graph: the same read units, read tasks and actor pool
    (resources and calls in flight from `jobs.run.pipeline`), with none of the work: the read tasks
    only read their shards, the actor hands each batch back, the driver counts rows."""
    import ray
    import ray.data

    from jobs.inputs import split_shards
    from jobs.run.stages import CALLS_PER_ACTOR, READ_TASK_CPUS, engine_env
    from schemas.manifest import InputFile
    from workers.render import unit_items

    ray_seconds = start_ray()
    shards = split_shards(
        [InputFile(uri=job["input"], rows=job["rows"], bytes=0)], rows_per_shard=job["rows_per_shard"]
    )
    began = time.time()
    items = unit_items(shards)
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    dataset = dataset.map_batches(
        read_only, batch_size=1, batch_format="pyarrow", num_cpus=READ_TASK_CPUS, fn_kwargs={"columns": input_columns()}
    )
    dataset = dataset.map_batches(
        PassThrough,
        batch_size=job["batch_size"],
        batch_format="pyarrow",
        num_cpus=1,
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=1, max_concurrent_calls_per_actor=CALLS_PER_ACTOR),
        # The generation actor's environment too: a worker of its own, as the job's actor needs.
        runtime_env={"env_vars": engine_env(os.cpu_count() or 1)},
    )
    rows, first = 0, None
    for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
        first = first or time.time()
        rows += batch.num_rows
    ended = time.time()
    ray.shutdown()
    return {"rows": rows, "seconds": ended - began, "first_rows": (first or ended) - began, "ray_start": ray_seconds}


def read_only(batch, *, columns: list[str]):
    """The floor's read task: each shard's input rows, as `workers.render.read_and_render` reads them."""
    from workers.render import read_items

    for _, rows, _ in read_items(batch, columns=columns):
        yield rows


def input_columns() -> list[str]:
    """What both sides read: the carried columns and the template's."""
    from workers.render import template_variables

    return list(dict.fromkeys(["id", "title", "score", *sorted(template_variables(TEMPLATE))]))


class PassThrough:
    """The floor's actor: async like `workers.actor.GenerationActor`, and does nothing."""

    async def __call__(self, batch):
        return batch


def child_plain(job: dict) -> dict:
    """The same read -> render + hash -> write, directly, in this one process."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from schemas.rows import output_schema
    from workers.render import PromptRenderer, template_variables

    began = time.time()
    parquet = pq.ParquetFile(job["input"])
    variables = sorted(template_variables(TEMPLATE))
    columns = input_columns()
    schema = output_schema(
        id_field=parquet.schema_arrow.field("id"), carried=[parquet.schema_arrow.field(c) for c in ("title", "score")]
    )
    renderer = PromptRenderer(template=TEMPLATE, system=None, variables=variables)
    out = Path(job["output"])
    out.mkdir(parents=True, exist_ok=True)
    rows, files = 0, []
    for index, batch in enumerate(parquet.iter_batches(batch_size=job["rows_per_shard"], columns=columns)):
        rendered = renderer.render_table(pa.Table.from_batches([batch]))
        n = rendered.num_rows
        constant = {
            "text": "ok",
            "finish_reason": "length",
            "num_input_tokens": 0,
            "num_output_tokens": 1,
            "model": "null",
            "sample_index": 0,
        }
        table = pa.table(
            {  # the job's output schema, whatever columns it has grown
                f.name: rendered.column(f.name)
                if f.name in rendered.column_names
                else pa.array([constant[f.name]] * n, f.type)
                if f.name in constant
                else pa.nulls(n, f.type)
                for f in schema
            },
            schema=schema,
        )
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        data = buffer.getvalue()
        hashlib.sha256(data).hexdigest()  # the job checksums every data file too
        path = out / f"shard-{index:05d}.parquet"
        path.write_bytes(data)
        files.append(str(path))
        rows += n
    ended = time.time()
    times = os.times()
    return {
        "rows": rows,
        "files": files,
        "seconds": ended - began,
        "cpu_s": times.user + times.system,
        "startup": began - job["spawned_at"],
        "driver_peak_rss_mib": peak_rss_mib(),
    }


def prompts_digest(files: list[str]) -> str:
    """SHA-256 over every output row's prompt_sha256, in file and row order."""
    import pyarrow.parquet as pq

    digest = hashlib.sha256()
    for path in files:
        for value in pq.read_table(path, columns=["prompt_sha256"]).column(0).to_pylist():
            digest.update((value or "-").encode())
    return digest.hexdigest()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="input rows (default 100000)")
    parser.add_argument("--rows-per-shard", type=int, default=1000, help="the spec default")
    parser.add_argument("--batch-size", type=int, default=256, help="rows per actor call (spec default)")
    parser.add_argument(
        "--row-group-rows",
        type=int,
        default=50_000,
        help="Parquet row group size of the input (default 50000; each shard reads "
        "every row group it overlaps in full)",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per side")
    parser.add_argument("--workdir", type=Path, default=None, help="keep inputs, outputs and logs here")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    exit_on_sigterm()
    with working_directory(args.workdir, prefix="pressroom-ceiling-") as workdir:
        run(args, workdir)


def run(args: argparse.Namespace, workdir: Path) -> None:
    input_path = workdir / "input.parquet"
    groups = write_input(input_path, rows=args.rows, row_group_rows=args.row_group_rows)
    null_model = workdir / "null-model"
    null_model.mkdir(exist_ok=True)
    (null_model / "config.json").write_text(json.dumps({"model_type": "null"}))
    print(
        f"input: {args.rows} rows, {groups} row group(s), {input_path.stat().st_size / 2**20:.1f} MiB; "
        f"rows_per_shard={args.rows_per_shard} batch_size={args.batch_size}",
        flush=True,
    )
    base = {
        "input": str(input_path),
        "rows": args.rows,
        "rows_per_shard": args.rows_per_shard,
        "batch_size": args.batch_size,
        "null_model": str(null_model),
    }
    script = Path(__file__).resolve()
    plain = run_child(
        script,
        side="plain",
        job={**base, "output": str(workdir / "out-plain")},
        workdir=workdir,
        timeout=args.timeout,
        env={},
    )
    job = run_child(
        script,
        side="job",
        job={**base, "output": str(workdir / "out-job")},
        workdir=workdir,
        timeout=args.timeout,
        env={},
    )
    floor = run_child(script, side="floor", job=base, workdir=workdir, timeout=args.timeout, env={})
    if job["rows_ok"] != args.rows or job["output_tokens"] != args.rows or job["errors"]:
        raise SystemExit(
            f"job output is wrong: {job['rows_ok']} ok rows, {job['output_tokens']} tokens, "
            f"errors {job['errors']} for {args.rows} rows (is the null engine installed?)"
        )
    same = prompts_digest(job["files"]) == prompts_digest(plain["files"])
    if not same or plain["rows"] != args.rows:
        raise SystemExit("the job and the plain process rendered different prompts")
    if floor["rows"] != args.rows:
        raise SystemExit(f"the floor graph passed {floor['rows']} rows for {args.rows}")
    report(args, job=job, plain=plain, floor=floor)


def report(args: argparse.Namespace, *, job: dict, plain: dict, floor: dict) -> None:
    job_rate = args.rows / job["seconds"]
    plain_rate = args.rows / plain["seconds"]
    with_ray = args.rows / (job["seconds"] + job["ray_start"])
    print(
        f"plain process : {plain_rate:12,.0f} rows/s  ({plain['seconds']:.2f} s; process start + imports "
        f"{plain['startup']:.2f} s)"
    )
    print(
        f"pressroom job : {job_rate:12,.0f} rows/s  ({job['seconds']:.2f} s in run_job; "
        f"{with_ray:,.0f} rows/s counting ray start {job['ray_start']:.2f} s)"
    )
    print(
        f"job timings   : {json.dumps(job['timings'])}; first shard written after "
        f"{job['first_shard_written'] or float('nan'):.2f} s"
    )
    window = job["timings"].get("generate")
    if window:  # the runner's window: first row handed to the (null) engine -> last shard written
        print(
            f"steady state  : {args.rows / window:12,.0f} rows/s  (job's generate window {window:.2f} s; "
            f"the rest of run_job is fixed start-up)"
        )
    print(
        f"ray data floor: {args.rows / floor['seconds']:12,.0f} rows/s  ({floor['seconds']:.2f} s, first rows at the "
        f"driver after {floor['first_rows']:.2f} s: the job's graph reading and passing rows, no render, no "
        f"engine, no write; {floor['seconds'] / plain['seconds']:.2f}x the plain process's time)"
    )
    print(
        f"above floor   : the job took {job['seconds'] - floor['seconds']:+.2f} s more than the floor for the render, "
        f"engine calls, shard writes and commit; the plain process does the same work in {plain['seconds']:.2f} s"
    )
    print("prompts       : identical prompt_sha256 sequence on both sides")
    print(
        f"peak RSS      : plain process {plain['driver_peak_rss_mib']:.0f} MiB; "
        f"job driver {job['driver_peak_rss_mib']:.0f} MiB (ru_maxrss)"
    )
    print(
        f"  {'job process role':<26} {'peak RSS':>9} {'private':>9} {'CPU s':>7}"
        "  (sampled; CPU over each process's life)"
    )
    for role, figures in job["rss"].items():
        private = "" if math.isnan(figures["private_mib"]) else f"{figures['private_mib']:5.0f} MiB"
        print(
            f"  {role:<26} {figures['max_mib']:5.0f} MiB {private:>9} {figures['cpu_s']:7.1f}  "
            f"({figures['processes']} process(es))"
        )
    print(f"  plain process CPU s: {plain['cpu_s']:.1f}")
    marks = job["driver_memory"]
    if marks:
        print("driver memory : private MiB at " + ", ".join(f"{m['rows']:,}: {m['private_mib']:.0f}" for m in marks))
        print(
            f"                shared MiB (libraries, object store pages read) {marks[0]['shared_mib']:.0f} -> "
            f"{marks[-1]['shared_mib']:.0f}"
        )
        print(
            f"                private growth over the run {marks[-1]['private_mib'] - marks[0]['private_mib']:+.0f} MiB"
        )
    print(f"ratio={job_rate / plain_rate:.3f}")


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not child_main({"job": child_job, "plain": child_plain, "floor": child_floor}, sys.argv[1:]):
        main(sys.argv[1:])
