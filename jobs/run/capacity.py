"""A capacity plan for the nightly window: how many replicas (and GPUs) finish a run in time.

Sizes come from the estimator (`estimate_run`: rows, exact prompt tokens, output tokens from the
job's earlier runs); throughput per replica from earlier committed manifests under the same
output root of the same model (content hash), engine and accelerator type, or from a
calibration run: the spec on a sample of its input, into a scratch output root. Every
assumption is returned as a line the CLI prints.
"""

from __future__ import annotations

import math
import re
import statistics
import tempfile
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from pathlib import Path

import pyarrow.dataset as pads
import pyarrow.parquet as pq

from jobs.errors import SpecError
from jobs.run.attempt import RunOptions, run_job
from jobs.run.estimate import DRY_RUN_ID
from jobs.run.estimate import estimate as size_of
from jobs.run.prepare import prepare_run
from schemas.manifest import Manifest, startup_seconds
from schemas.spec import JobSpec
from workers.io import storage_for

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in '6h', '90m', '45s', '1d' or '1h30m'."""
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", text.strip().lower())
    if not parts or "".join(n + u for n, u in parts) != text.strip().lower():
        raise SpecError(f"--deadline {text!r}: use e.g. 6h, 90m, 1h30m, 45s")
    return sum(float(n) * UNITS[u] for n, u in parts)


@dataclass(frozen=True)
class Startup:
    """Start-up seconds (Ray, the pool's engines loading, the first rows read) measured at some
    replica counts: `points` holds (replicas, seconds) of each measured run."""

    points: tuple[tuple[int, float], ...]

    @cached_property
    def _medians(self) -> dict[int, float]:
        """Median start-up per replica count measured, by count (computed once: the deadline
        search asks for many counts)."""
        by_count: dict[int, list[float]] = {}
        for count, seconds in self.points:
            by_count.setdefault(count, []).append(seconds)
        return {count: statistics.median(values) for count, values in sorted(by_count.items())}

    def seconds(self, replicas: int) -> tuple[float, str]:
        """Start-up for `replicas`, and the assumption behind it: runs at that count if any;
        else a line through the counts measured (never falling with more replicas); else the
        one count measured, taken as is."""
        medians = self._medians
        if replicas in medians:
            return medians[replicas], f"measured with {replicas} replica(s)"
        if len(medians) >= 2:
            slope, intercept = statistics.linear_regression(list(medians), list(medians.values()))
            if slope < 0:  # noise: more replicas never start faster
                slope, intercept = 0.0, statistics.fmean(medians.values())
            counts = ", ".join(str(c) for c in medians)
            return (
                max(0.0, intercept + slope * replicas),
                f"a line through runs with {counts} replica(s): {slope:+.2f} s per replica",
            )
        ((count, seconds),) = medians.items()
        return seconds, (
            f"measured with {count} replica(s) only, assumed the same with {replicas} (replicas whose "
            "hosts share CPUs start slower: plan from a run at the count you will use)"
        )


@dataclass(frozen=True)
class Throughput:
    """Generated tokens per second of one replica, start-up seconds, and where they come from."""

    tokens_per_second: float
    startup: Startup
    output_tokens_per_row: float | None
    source: str


@dataclass(frozen=True)
class Capacity:
    """What a run needs to finish within the deadline."""

    job: str
    deadline_seconds: float
    rows: int
    rows_to_generate: int
    input_tokens: int
    output_tokens: int
    replica_tokens_per_second: float
    startup_seconds: float
    replicas: int
    gpus: float
    predicted_seconds: float
    fits: bool
    assumptions: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def measured_throughput(
    manifests: list[Manifest], *, model_sha256: str, engine: str, accelerator: str | None
) -> Throughput | None:
    """Per-replica throughput over earlier runs of this model, engine and accelerator."""
    matched = [
        m
        for m in manifests
        if m.model.sha256 == model_sha256
        and m.model.engine == engine
        and m.accelerator_type == accelerator
        and m.workers.actors
        and m.timings.get("generate")
        and m.totals.output_tokens_generated
    ]
    if not matched:
        return None
    tokens = sum(m.totals.output_tokens_generated for m in matched)
    replica_seconds = sum(m.timings["generate"] * m.workers.actors for m in matched)
    startup = Startup(tuple((m.workers.actors, startup_seconds(m.timings)) for m in matched))
    per_row = sum(m.totals.output_tokens for m in matched) / max(1, sum(m.totals.rows_in for m in matched))
    return Throughput(
        tokens / replica_seconds,
        startup,
        per_row,
        f"{len(matched)} earlier run(s) of this model on {accelerator or 'unpinned nodes'}",
    )


def calibrate(spec: JobSpec, *, rows: int, address: str | None = None) -> Throughput:
    """Run the spec on its input's first `rows` rows into a scratch root; measure a replica."""
    storage = storage_for(spec.input.uri)
    filesystem, path = storage.arrow_filesystem(spec.input.uri)
    sample = pads.dataset(path, filesystem=filesystem, format="parquet").head(rows)
    with tempfile.TemporaryDirectory(prefix="pressroom-calibrate-") as scratch:
        sample_path = Path(scratch) / "sample.parquet"
        pq.write_table(sample, sample_path)
        trial = spec.model_copy(
            update={
                "input": spec.input.model_copy(update={"uri": str(sample_path)}),
                "output": spec.output.model_copy(update={"uri": str(Path(scratch) / "out")}),
                "mode": "full",
                "budget": None,
                "retention": None,
                "notify": None,
                "schedule": None,
                "publish": None,
                "quality": spec.quality.model_copy(update={"gate": None}) if spec.quality else None,
            }
        )
        manifest = run_job(trial, run_id="calibration", options=RunOptions(address=address)).manifest
    found = measured_throughput(
        [manifest],
        model_sha256=manifest.model.sha256,
        engine=manifest.model.engine,
        accelerator=manifest.accelerator_type,
    )
    if found is None:
        raise SpecError(f"--calibrate {rows}: the sample generated no tokens to measure")
    return Throughput(
        found.tokens_per_second,
        found.startup,
        found.output_tokens_per_row,
        f"a calibration run of {sample.num_rows} rows with {manifest.workers.actors} replica(s)",
    )


def _fewest_replicas(tokens: int, rate: float, startup: Startup, deadline_seconds: float) -> int:
    """The fewest replicas whose start-up plus window fits the deadline; if none does, the count
    that comes closest (more replicas stop helping once start-up grows faster than the window shrinks)."""
    first, _ = startup.seconds(1)
    if deadline_seconds <= first:
        raise SpecError(f"the deadline ({deadline_seconds:.0f} s) is shorter than start-up alone ({first:.0f} s)")
    if not tokens:
        return 1
    replicas = max(1, math.ceil(tokens / ((deadline_seconds - first) * rate)))
    best, best_seconds = replicas, math.inf
    for count in range(replicas, 4 * replicas + 16):
        seconds = startup.seconds(count)[0] + tokens / (count * rate)
        if seconds <= deadline_seconds:
            return count
        if seconds < best_seconds:
            best, best_seconds = count, seconds
    return best


def size_capacity(
    spec: JobSpec,
    *,
    deadline_seconds: float,
    accelerator: str | None = None,
    calibrate_rows: int | None = None,
    replicas: int | None = None,
    address: str | None = None,
) -> Capacity:
    """Replicas and GPUs that finish the spec's next run within the deadline (or, with `replicas`,
    how long that many take)."""
    from jobs.query import load_committed_runs

    accelerator = accelerator if accelerator is not None else spec.resources.accelerator_type
    prepared = prepare_run(spec, run_id=DRY_RUN_ID)
    estimate = size_of(prepared)
    model = prepared.model
    assumptions = [
        f"rows: {estimate.rows} in the input, {estimate.rows_to_generate} to generate "
        f"({estimate.rows_reused} reused from the latest run)",
        f"input tokens: {estimate.input_tokens}, counted with the model's tokenizer",
    ]
    history = [run.manifest for run in load_committed_runs(spec.output.uri).runs]
    earlier = measured_throughput(history, model_sha256=model.sha256, engine=spec.model.engine, accelerator=accelerator)
    if calibrate_rows:
        throughput = calibrate(spec, rows=calibrate_rows, address=address)
        if earlier is not None:  # start-up at other replica counts from earlier runs, beside the calibration's
            throughput = replace(throughput, startup=Startup(throughput.startup.points + earlier.startup.points))
    elif earlier is not None:
        throughput = earlier
    else:
        raise SpecError(
            f"no committed run of model {spec.model.source} ({spec.model.engine}, accelerator "
            f"{accelerator or 'unpinned'}) under {spec.output.uri} to measure throughput from: pass "
            "--calibrate ROWS to measure it on a sample"
        )
    samples = spec.sampling.n
    if estimate.estimated_output_tokens is not None:
        tokens = estimate.estimated_output_tokens
        assumptions.append(f"output tokens: {tokens}, at the job's earlier runs' tokens per row")
    elif throughput.output_tokens_per_row is not None:
        tokens = round(throughput.output_tokens_per_row * estimate.rows_to_generate)
        assumptions.append(
            f"output tokens: {tokens}, at {throughput.output_tokens_per_row:.1f} per row ({throughput.source})"
        )
    else:
        tokens = spec.sampling.max_tokens * samples * estimate.rows_to_generate
        assumptions.append(f"output tokens: {tokens}, the upper bound max_tokens x n x rows")
    rate = throughput.tokens_per_second
    assumptions.append(
        f"throughput: {rate:.1f} generated tokens/s per replica, from {throughput.source}; "
        "replicas scale linearly (check with benchmarks/simulated_scaling.py)"
    )
    if replicas is None:
        replicas = _fewest_replicas(tokens, rate, throughput.startup, deadline_seconds)
    startup, basis = throughput.startup.seconds(replicas)
    assumptions.append(
        f"start-up: {startup:.1f} s (Ray, the engines loading, the first rows read) before the "
        f"first row generates, {basis}"
    )
    predicted = startup + (tokens / (replicas * rate) if tokens else 0.0)
    gpus = replicas * spec.resources.gpus_per_replica
    assumptions.append(f"GPUs: {replicas} replica(s) x {spec.resources.gpus_per_replica:g} per replica")
    return Capacity(
        job=spec.name,
        deadline_seconds=deadline_seconds,
        rows=estimate.rows,
        rows_to_generate=estimate.rows_to_generate,
        input_tokens=estimate.input_tokens,
        output_tokens=tokens,
        replica_tokens_per_second=round(rate, 2),
        startup_seconds=round(startup, 1),
        replicas=replicas,
        gpus=gpus,
        predicted_seconds=round(predicted, 1),
        fits=predicted <= deadline_seconds,
        assumptions=assumptions,
    )
