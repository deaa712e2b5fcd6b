"""Shard records and the per-run manifest: the contract readers rely on."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from schemas.names import RUN_FILE_PATTERN, JobName, RunId

MANIFEST_FORMAT = 1
# Every metric, accuracy and rate pressroom stores is on 0..1. Records written before `score_scale`
# existed hold sacrebleu's 0..100 for these metrics; they are converted when read.
SCORE_SCALE = "0-1"
PERCENT_METRICS = ("bleu", "chrf")


def _on_0_1(scores: dict, key: str) -> dict:
    """Scores of a record written before score_scale, with the percent metrics' `key` / 100."""
    converted = {}
    for metric, value in scores.items():
        value = value.model_dump() if isinstance(value, BaseModel) else dict(value)
        if metric in PERCENT_METRICS and isinstance(value.get(key), int | float):
            # means were stored to 4 places of 0..100: 6 places of 0..1 keep exactly them
            value[key] = round(value[key] / 100, 6) if key == "mean" else value[key] / 100
        converted[metric] = value
    return converted


def startup_seconds(timings: dict[str, float]) -> float:
    """A run's start-up from its manifest's timings: Ray's start (`ray_start`, when the driver
    started or joined Ray) plus the graph's start until a loaded engine took the first row
    (`startup`). Zero for a run that needed no engine."""
    return timings.get("ray_start", 0.0) + timings.get("startup", 0.0)


class RecordModel(BaseModel):
    """Base for state records: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class FileEntry(RecordModel):
    """One data file of a run."""

    path: str = Field(description="Path relative to the run directory, e.g. data/shard-00000-a1.parquet.")
    rows: int = Field(ge=0, description="Rows in the file.")
    bytes: int = Field(ge=0, description="Size of the file in bytes.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Hex SHA-256 of the file's bytes.")

    @field_validator("path")
    @classmethod
    def _inside_the_run(cls, value: str) -> str:
        # A hostile manifest must not point readers outside the run directory, nor at a glob
        # (DuckDB expands `*`, `?` and `[...]` in the file lists it is given).
        if not re.fullmatch(RUN_FILE_PATTERN, value):
            raise ValueError(
                f"{value!r} is not a plain path inside the run directory (letters, digits, '.', '_', '-' and '/' only)"
            )
        return value


class ShardTotals(RecordModel):
    """Row and token counts of one shard or one run."""

    rows_in: int = Field(default=0, ge=0, description="Input rows.")
    rows_ok: int = Field(default=0, ge=0, description="Input rows whose every output has no error.")
    rows_failed: int = Field(default=0, ge=0, description="Input rows with at least one failed output.")
    outputs: int = Field(default=0, ge=0, description="Output rows: rows_in x sampling.n.")
    outputs_failed: int = Field(default=0, ge=0, description="Output rows carrying an error_code.")
    outputs_truncated: int = Field(
        default=0,
        ge=0,
        description="Output rows that stopped at sampling.max_tokens (finish_reason length); 0 in runs "
        "written before it was counted.",
    )
    input_tokens: int = Field(default=0, ge=0, description="Prompt tokens over all rows.")
    output_tokens: int = Field(default=0, ge=0, description="Generated tokens over all rows.")


class Placement(RecordModel):
    """Where some of a shard's generated rows came from: a node, an actor, and its incarnation."""

    node: str = Field(description="Ray node id.")
    actor: str = Field(description="Ray actor id of the generation actor.")
    incarnation: str = Field(description="Random per actor start: a restarted actor gets a new one.")
    rows: int = Field(ge=0, description="Output rows it generated for the shard.")
    started: float | None = Field(default=None, description="Unix time its first batch of the shard started.")
    ended: float | None = Field(default=None, description="Unix time its last batch of the shard ended.")


class ShardWork(RecordModel):
    """How the attempt that wrote a shard got its rows: from earlier work, or from the engine."""

    rows_reused: int = Field(default=0, ge=0, description="Input rows copied from the run the plan reuses from.")
    rows_generated: int = Field(
        default=0,
        ge=0,
        description="Input rows whose output this shard's attempt produced "
        "(rows fanned out from an identical row included).",
    )
    engine_requests: int = Field(default=0, ge=0, description="Requests handed to an engine for this shard.")
    output_tokens_generated: int = Field(
        default=0,
        ge=0,
        description="Tokens the engine generated for this shard "
        "(what a budget spends; copied and fanned-out rows cost none).",
    )
    placements: list[Placement] = Field(default_factory=list, description="Which actors generated its rows.")


class Workers(RecordModel):
    """The generation actors behind a run, from its shard records."""

    actors: int = Field(default=0, ge=0, description="Distinct generation actors that produced rows.")
    nodes: dict[str, int] = Field(default_factory=dict, description="Output rows generated per Ray node id.")
    actor_restarts: int = Field(
        default=0,
        ge=0,
        description="Actor restarts seen (e.g. after a node was lost): "
        "new incarnations of an actor that then produced rows.",
    )


class ScoreSum(RecordModel):
    """A quality metric summed over one shard's scored rows."""

    total: float = Field(default=0.0, description="Sum of the rows' scores.")
    scored: int = Field(default=0, ge=0, description="Rows with a score (ok rows with a reference).")


class ScoreMean(RecordModel):
    """A quality metric over a run."""

    mean: float | None = Field(description="Mean over scored rows; null when none was scored.")
    scored: int = Field(ge=0, description="Output rows scored.")


class QualityCount(RecordModel):
    """How many outputs matched their reference value (error rows count as wrong)."""

    correct: int = Field(ge=0)
    total: int = Field(ge=0)


class Accuracy(QualityCount):
    """A run's accuracy for one output field against its reference column."""

    reference_column: str
    accuracy: float | None = Field(description="correct / total; null when total is 0.")


class AdapterLineage(RecordModel):
    """One LoRA adapter the run used."""

    source: str = Field(description="The spec's adapter directory or URI as written.")
    path: str = Field(description="Resolved local directory.")
    sha256: str = Field(description="Content hash of the adapter's files.")


class ShardRecord(RecordModel):
    """Written after a shard's data file is closed and checked: the shard is complete."""

    shard: int = Field(ge=0, description="Shard index in the run's plan.")
    input_file: str = Field(description="Input file URI the shard's rows came from.")
    row_start: int = Field(ge=0, description="First input row (inclusive) in that file.")
    row_end: int = Field(ge=0, description="Last input row (exclusive) in that file.")
    file: FileEntry
    totals: ShardTotals
    errors: dict[str, int] = Field(default_factory=dict, description="Failed output rows by error_code.")
    quality: dict[str, QualityCount] = Field(
        default_factory=dict, description="Per output field: outputs matching the reference column."
    )
    work: ShardWork = Field(default_factory=ShardWork, description="Where the shard's rows came from.")
    scores: dict[str, ScoreSum] = Field(default_factory=dict, description="Quality metric -> sum over rows.")
    score_scale: Literal["0-1"] = Field(
        default=SCORE_SCALE,
        description="Every score on 0..1. A record without it was written when BLEU and chrF were "
        "0..100: their sums are divided by 100 when read.",
    )

    @model_validator(mode="before")
    @classmethod
    def _scores_on_0_1(cls, data: Any) -> Any:
        if isinstance(data, dict) and "score_scale" not in data and data.get("scores"):
            return {**data, "scores": _on_0_1(data["scores"], "total")}
        return data

    def covers(self, shard: Shard) -> bool:
        """Whether this record is for exactly this planned shard."""
        return (self.shard, self.input_file, self.row_start, self.row_end) == (
            shard.index,
            shard.input_file,
            shard.row_start,
            shard.row_end,
        )


class InputFile(RecordModel):
    """Identity of an input file when the run planned its shards."""

    uri: str
    rows: int = Field(ge=0)
    bytes: int = Field(ge=0)
    mtime_ns: int | None = Field(default=None, description="Modification time in ns since the epoch.")
    etag: str | None = Field(default=None, description="Object ETag (object storage).")


class Shard(RecordModel):
    """A contiguous row range of one input file: the unit of output files and resume."""

    index: int = Field(ge=0, description="Shard index in the run's plan.")
    input_file: str = Field(description="Input file URI the shard's rows come from.")
    row_start: int = Field(ge=0, description="First input row (inclusive) in that file.")
    row_end: int = Field(ge=0, description="Last input row (exclusive) in that file.")

    @property
    def rows(self) -> int:
        """Input rows in the shard."""
        return self.row_end - self.row_start


class PinnedModel(RecordModel):
    """The weights and engine a run generates with: a resume must find exactly these."""

    sha256: str = Field(description="Content hash of the model directory (every file).")
    adapters: dict[str, str] = Field(default_factory=dict, description="Adapter name -> content hash.")
    engine: str = Field(description="Engine name.")
    engine_version: str = Field(description="Version of the engine's library.")


class RunPlan(RecordModel):
    """Written once when a run first starts: resuming must see the same spec, input, model and shards."""

    job: JobName
    run_id: RunId
    spec_sha256: str = Field(description="Fingerprint of the resolved spec the run started with.")
    created_at: str = Field(description="UTC time the run first started (ISO 8601).")
    inputs: list[InputFile] = Field(description="Identity of every input file at the first start.")
    model: PinnedModel
    shards: list[Shard]
    mode: Literal["full", "incremental"] = Field(default="full", description="The spec's mode.")
    reused_from: RunId | None = Field(
        default=None,
        description="Incremental runs: the committed run whose rows this run may reuse (the job's "
        "latest when the run first started; a resume reuses from the same run). Retries: the retried run.",
    )
    retry: bool = Field(
        default=False, description="A retry of reused_from: its non-retryable error rows are copied too."
    )


class ModelLineage(RecordModel):
    """Which weights and engine produced the text."""

    source: str = Field(description="The spec's model.source as written.")
    path: str = Field(description="Resolved local directory the engine loaded.")
    sha256: str = Field(description="Content hash of the model directory's files.")
    engine: str = Field(description="Engine name.")
    engine_version: str = Field(description="Version of the engine's library (vllm, transformers).")
    adapters: dict[str, AdapterLineage] = Field(
        default_factory=dict, description="Adapters by name ('adapter' for model.adapter)."
    )
    adapter_column: str | None = Field(default=None, description="Input column choosing the adapter per row.")
    max_model_len: int | None = None
    dtype: str = "auto"
    engine_args: dict[str, Any] = Field(default_factory=dict, description="The spec's model.engine_args.")


class Totals(ShardTotals):
    """Run totals: shard totals summed, plus where the rows came from. Always
    `rows_in = rows_reused + rows_generated`."""

    rows_reused: int = Field(
        default=0,
        ge=0,
        description="Input rows taken from earlier work: copied from the run named by reused_from, "
        "or from this run's own shards an earlier attempt finished (a resume).",
    )
    rows_generated: int = Field(
        default=0,
        ge=0,
        description="Input rows whose output this attempt produced, rows fanned out from an "
        "identical row (same generation_key, deterministic sampling) included.",
    )
    engine_requests: int = Field(
        default=0,
        ge=0,
        description="Requests this attempt handed to an engine: rows_generated less fanned-out "
        "rows and rows that failed before the engine (template, text and image errors).",
    )
    output_tokens_generated: int = Field(
        default=0,
        ge=0,
        description="Tokens the engine generated in this run, over all its attempts (output_tokens "
        "also counts copied rows' tokens).",
    )


class Manifest(RecordModel):
    """Written last, once per run: lists every file of the committed output."""

    format: int = Field(default=MANIFEST_FORMAT, description="Manifest format version.")
    job: JobName
    run_id: RunId
    status: Literal["succeeded", "rejected"] = Field(
        description="A manifest exists only for a finished run: succeeded, or rejected by a quality gate."
    )
    state: Literal["succeeded", "rejected"] = Field(default="succeeded", description="The run's state; equals status.")
    spec_sha256: str = Field(description="Fingerprint of the resolved spec.")
    created_at: str = Field(description="UTC time the run started (ISO 8601).")
    finished_at: str = Field(description="UTC time the manifest was written (ISO 8601).")
    task: dict[str, Any] = Field(description="Task after presets were applied.")
    model: ModelLineage
    sampling: dict[str, Any]
    inputs: list[InputFile]
    files: list[FileEntry]
    id_column: str | None = Field(default=None, description="The data files' id column (input.id_column).")
    image_column: str | None = Field(
        default=None,
        description="The inputs' image column (input.image_column), for readers that show a caption next to its image.",
    )
    mode: Literal["full", "incremental"] = Field(default="full", description="The spec's mode.")
    reused_from: RunId | None = Field(
        default=None, description="The committed run (of this job) whose rows this run copied, if any."
    )
    retry_of: RunId | None = Field(default=None, description="The run this run retried (`pressroom retry`).")
    totals: Totals
    errors: dict[str, int] = Field(default_factory=dict, description="Failed output rows by error_code.")
    quality: dict[str, Accuracy] = Field(
        default_factory=dict, description="Accuracy per output field against task.reference_columns."
    )
    scores: dict[str, ScoreMean] = Field(
        default_factory=dict,
        description="quality.metrics against quality.reference_column: mean and rows scored, each on 0..1 "
        "(ROUGE-L F, BLEU and chrF: sacrebleu's 0..100 divided by 100).",
    )
    score_scale: Literal["0-1"] = Field(
        default=SCORE_SCALE,
        description="Every score, accuracy and rate here and in the data files is on 0..1. A manifest "
        "without it was written when BLEU and chrF were 0..100: readers convert its means and its data "
        "files' score_bleu and score_chrf columns (divided by 100), so nights compare.",
    )
    score_tokenization: dict[str, str] = Field(default_factory=dict, description="How each metric tokenized text.")
    rejected_because: list[str] = Field(
        default_factory=list, description="A rejected run: each part of quality.gate it missed."
    )
    timings: dict[str, float] = Field(description="Seconds per phase.")
    workers: Workers = Field(default_factory=Workers, description="Generation actors, nodes and restarts.")
    accelerator_type: str | None = Field(
        default=None,
        description="resources.accelerator_type the replicas were "
        "pinned to (null: none asked), for capacity plans by accelerator.",
    )
    gpus_per_replica: float = Field(default=0, ge=0, description="resources.gpus_per_replica of the run.")
    code_version: str = Field(description="pressroom version (and git commit when known).")

    _percent_columns: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _scores_on_0_1(cls, data: Any, handler) -> Manifest:
        written_before = isinstance(data, dict) and "score_scale" not in data and bool(data.get("scores"))
        if not written_before:
            return handler(data)
        manifest = handler({**data, "scores": _on_0_1(data["scores"], "mean")})
        manifest._percent_columns = tuple(f"score_{m}" for m in PERCENT_METRICS if m in manifest.scores)
        return manifest

    @property
    def percent_score_columns(self) -> tuple[str, ...]:
        """The data files' score columns still on 0..100 (a run written before score_scale)."""
        return self._percent_columns

    @model_validator(mode="after")
    def _state_is_status(self) -> Manifest:
        if self.state != self.status:
            raise ValueError(f"state {self.state!r} differs from status {self.status!r}")
        return self
