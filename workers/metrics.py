"""Prometheus metrics through Ray's own metrics (`ray.util.metrics`): Ray's metrics endpoint
serves them with a `ray_` prefix (`pressroom_output_rows_total` -> `ray_pressroom_output_rows_total`).

Labelled by job only (and error code): never by run id or row, so cardinality stays bounded.
Outside a Ray worker (a unit test of an engine) every call is a no-op.

    pressroom_output_rows_total{job}            output rows the engines returned (error rows included)
    pressroom_input_tokens_total{job}           prompt tokens of those rows
    pressroom_output_tokens_total{job}          tokens the engines generated
    pressroom_errors_total{job,code}            output rows with an error_code, by code
    pressroom_batch_seconds{job}                seconds per batch in an engine (histogram)
    pressroom_engine_busy_fraction{job}         share of an actor's life since its engine loaded spent generating
    pressroom_queue_rows{job}                   the driver's input rows not yet written (backlog)
"""

from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.compute as pc

from schemas.rows import ERROR_CODE, NUM_INPUT_TOKENS, NUM_OUTPUT_TOKENS

# name, kind, meaning: the one list the instruments below and the docs' metrics page read.
METRICS = (
    ("pressroom_output_rows_total", "counter", "Output rows the engines returned (error rows included), by job."),
    ("pressroom_input_tokens_total", "counter", "Prompt tokens of those rows, by job."),
    ("pressroom_output_tokens_total", "counter", "Tokens the engines generated, by job."),
    ("pressroom_errors_total", "counter", "Output rows with an error, by job and error code."),
    ("pressroom_batch_seconds", "histogram", "Seconds per batch in an engine, by job."),
    (
        "pressroom_engine_busy_fraction",
        "gauge",
        "Share of an actor's time since its engine loaded spent generating, by job.",
    ),
    ("pressroom_queue_rows", "gauge", "The driver's input rows of the run not yet written (its backlog), by job."),
)
MEANING = {name: text for name, _, text in METRICS}
BATCH_BOUNDARIES = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]


def _ray_up() -> bool:
    try:
        import ray
    except ImportError:
        return False
    return ray.is_initialized()


class EngineMetrics:
    """What one generation actor reports after each batch."""

    def __init__(self, job: str):
        self._on = _ray_up() and bool(job)
        self._since = time.monotonic()
        self._busy = 0.0
        if not self._on:
            return
        from ray.util.metrics import Counter, Gauge, Histogram

        tags = {"job": job}
        self._rows = Counter(
            "pressroom_output_rows_total", description=MEANING["pressroom_output_rows_total"], tag_keys=("job",)
        )
        self._input = Counter(
            "pressroom_input_tokens_total", description=MEANING["pressroom_input_tokens_total"], tag_keys=("job",)
        )
        self._output = Counter(
            "pressroom_output_tokens_total", description=MEANING["pressroom_output_tokens_total"], tag_keys=("job",)
        )
        self._errors = Counter(
            "pressroom_errors_total", description=MEANING["pressroom_errors_total"], tag_keys=("job", "code")
        )
        self._seconds = Histogram(
            "pressroom_batch_seconds",
            description=MEANING["pressroom_batch_seconds"],
            boundaries=BATCH_BOUNDARIES,
            tag_keys=("job",),
        )
        self._busy_gauge = Gauge(
            "pressroom_engine_busy_fraction",
            description=MEANING["pressroom_engine_busy_fraction"],
            tag_keys=("job",),
        )
        for metric in (self._rows, self._input, self._output, self._errors, self._seconds, self._busy_gauge):
            metric.set_default_tags(tags)

    def batch(self, out: pa.Table, seconds: float) -> None:
        """Count one generated batch (the actor's output table) that took `seconds`."""
        self._busy += seconds
        if not self._on or not out.num_rows:
            return
        self._rows.inc(out.num_rows)
        for counter, column in ((self._input, NUM_INPUT_TOKENS), (self._output, NUM_OUTPUT_TOKENS)):
            count = pc.sum(out.column(column)).as_py() or 0
            if count > 0:  # Ray's Counter.inc refuses 0
                counter.inc(count)
        codes = out.column(ERROR_CODE)
        if codes.null_count < len(codes):
            for entry in pc.value_counts(codes.drop_null()).to_pylist():
                self._errors.inc(entry["counts"], tags={"code": entry["values"]})
        self._seconds.observe(seconds)
        self._busy_gauge.set(min(1.0, self._busy / max(time.monotonic() - self._since, 1e-9)))


class QueueMetric:
    """The driver's backlog: input rows of the run not yet written."""

    def __init__(self, job: str):
        self._gauge = None
        if _ray_up() and job:
            from ray.util.metrics import Gauge

            self._gauge = Gauge("pressroom_queue_rows", description=MEANING["pressroom_queue_rows"], tag_keys=("job",))
            self._gauge.set_default_tags({"job": job})

    def set(self, rows: int) -> None:
        if self._gauge is not None:
            self._gauge.set(rows)
