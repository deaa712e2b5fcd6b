"""The job spec: what a user writes in YAML, validated before anything runs."""

from __future__ import annotations

from datetime import UTC
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.names import JobName


class TaskKind(StrEnum):
    """Task kinds: each is a preset (system prompt and template) in `jobs.spec.presets`."""

    REPORT = "report"
    SUMMARY = "summary"
    CAPTION = "caption"
    LABEL = "label"
    CUSTOM = "custom"


class EngineName(StrEnum):
    """Engine names: each maps to an implementation in `workers.engines.ENGINES`."""

    VLLM = "vllm"
    HF = "hf"
    SIMULATED = "simulated"  # scale work only: fixed-rate deterministic text (workers/engines/simulated.py)


class SpecModel(BaseModel):
    """Base for every spec section: frozen, and unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class InputSpec(SpecModel):
    """Where the prompt table lives and which columns matter."""

    uri: str = Field(description="A Parquet file or a directory of Parquet files.")
    id_column: str = Field(description="Column holding a unique, non-null id per row.")
    columns: list[str] = Field(
        default_factory=list, description="Input columns copied unchanged into every output row."
    )
    image_column: str | None = Field(
        default=None,
        description="Column holding each row's image: bytes (binary), or a path or s3:// URI (string); "
        "relative paths resolve against the input file's directory.",
    )
    image_roots: list[str] = Field(
        default_factory=list,
        description="Directories or s3:// prefixes image paths may also point into, besides the input's own "
        "directory (local) or bucket (s3); any other path is an image_not_allowed row.",
    )
    rows_per_shard: int = Field(
        default=1000,
        ge=1,
        description="Rows per shard: the unit of output files, completion records and resume.",
    )


class TaskSpec(SpecModel):
    """What to generate. `kind` picks a preset; `system` and `prompt` override it."""

    kind: TaskKind = Field(description="Preset supplying a default system prompt and template.")
    system: str | None = Field(default=None, description="System prompt; null keeps the preset's.")
    prompt: str | None = Field(
        default=None,
        description="Jinja2 template over the row's columns (sandboxed, StrictUndefined).",
    )
    output_schema: dict[str, Any] | None = Field(
        default=None,
        description="JSON Schema (an object with properties) constraining the output (vllm engine); "
        "its fields land as typed out_<field> columns.",
    )
    reference_columns: dict[str, str] = Field(
        default_factory=dict,
        description="Output field -> input column holding the expected value; the manifest reports accuracy.",
    )

    @field_validator("output_schema")
    @classmethod
    def _object_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and (value.get("type") != "object" or not isinstance(value.get("properties"), dict)):
            raise ValueError("output_schema must be a JSON Schema with type: object and properties")
        return value

    @model_validator(mode="after")
    def _custom_needs_prompt(self) -> TaskSpec:
        if self.kind == TaskKind.CUSTOM and not self.prompt:
            raise ValueError("task.kind 'custom' has no preset template: set task.prompt")
        fields = set((self.output_schema or {}).get("properties", {}))
        unknown = sorted(set(self.reference_columns) - fields)
        if unknown:
            raise ValueError(f"reference_columns name fields not in output_schema: {', '.join(unknown)}")
        return self


class ModelSpec(SpecModel):
    """Which model generates, on which engine."""

    engine: EngineName = Field(default=EngineName.VLLM, description="Engine name from the registry.")
    source: str = Field(
        default="default",
        description="'default' (bundled SmolLM2-135M-Instruct), 'default-vlm' (a tiny random Idefics3 "
        "for caption demos: gibberish captions), a local directory, or a hub id.",
    )
    adapter: str | None = Field(default=None, description="LoRA adapter (PEFT directory) for every row.")
    adapters: dict[str, str] = Field(
        default_factory=dict, description="Adapter name -> PEFT directory, chosen per row by adapter_column."
    )
    adapter_column: str | None = Field(
        default=None, description="Input column naming a key of `adapters` per row; null means the base model."
    )
    max_model_len: int | None = Field(
        default=None, ge=16, description="Context length; prompts longer than it are error rows."
    )
    dtype: str = Field(default="auto", description="Weights dtype: auto, bfloat16, float16, float32.")
    engine_args: dict[str, Any] = Field(
        default_factory=dict, description="Passed to the engine as-is; the engine validates them."
    )

    @model_validator(mode="after")
    def _adapters_consistent(self) -> ModelSpec:
        if self.adapter and (self.adapters or self.adapter_column):
            raise ValueError("use either adapter (one for all rows) or adapters + adapter_column")
        if bool(self.adapters) != bool(self.adapter_column):
            raise ValueError("adapters and adapter_column go together")
        for name in self.adapters:
            if not name or not all(c.isalnum() or c in "-_" for c in name):
                raise ValueError(f"adapter name {name!r}: use letters, digits, '-', '_'")
        return self


class SamplingSpec(SpecModel):
    """Sampling parameters, mapped onto each engine's own."""

    temperature: float = Field(default=0.0, ge=0.0, description="0 means greedy.")
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int = Field(default=0, ge=0, description="0 disables top-k.")
    max_tokens: int = Field(default=128, ge=1, description="Most tokens generated per row.")
    seed: int | None = Field(default=None, description="Fixed seed for reproducible sampling.")
    stop: list[str] = Field(default_factory=list, description="Stop strings.")
    ignore_eos: bool = Field(default=False, description="Keep generating past end-of-sequence.")
    n: int = Field(default=1, ge=1, le=64, description="Outputs per row, keyed by (id, sample_index).")


class OutputSpec(SpecModel):
    """Where outputs, shard records and the manifest go."""

    uri: str = Field(description="Root directory; runs land under {uri}/{name}/runs/{run_id}/.")
    store_prompts: bool = Field(
        default=False,
        description="Write each row's rendered prompt in a `prompt` column, so readers (the viewer) "
        "show exactly what the model was asked. Off by default: prompts can be large, and may repeat input text "
        "the outputs should not carry.",
    )


class ResourcesSpec(SpecModel):
    """How many generation actors, and what each one holds."""

    replicas: int | tuple[int, int] = Field(
        default=1, description="Actors: a fixed count, or [min, max] for an autoscaling pool."
    )
    gpus_per_replica: float = Field(default=0, ge=0, description="0 on CPU machines.")
    threads_per_replica: int | None = Field(
        default=None,
        ge=1,
        description="Engine threads (OMP_NUM_THREADS) per actor; default: the node's cores / max replicas "
        "without GPUs, 1 with GPUs.",
    )
    batch_size: int = Field(default=256, ge=1, description="Rows handed to an actor per call.")
    tensor_parallel_size: int = Field(
        default=1,
        ge=1,
        description="GPUs one replica's engine spans (vLLM tensor parallelism); above 1 the replica "
        "gets them on one node through a placement group, and gpus_per_replica must equal it.",
    )
    accelerator_type: str | None = Field(
        default=None, description="Pin replicas to nodes of this Ray accelerator type (e.g. A100, L4, H100)."
    )
    cpus_per_replica: float = Field(
        default=1,
        gt=0,
        description="CPUs each generation actor holds; read, render and write tasks are sized "
        "apart (half a CPU each) and never given to actors.",
    )

    @model_validator(mode="after")
    def _placement_consistent(self) -> ResourcesSpec:
        if self.tensor_parallel_size > 1 and self.gpus_per_replica != self.tensor_parallel_size:
            raise ValueError(
                f"tensor_parallel_size {self.tensor_parallel_size} needs gpus_per_replica "
                f"{self.tensor_parallel_size} (one GPU per tensor-parallel rank), not "
                f"{self.gpus_per_replica:g}"
            )
        return self

    @field_validator("replicas")
    @classmethod
    def _replicas_positive(cls, value: int | tuple[int, int]) -> int | tuple[int, int]:
        low, high = (value, value) if isinstance(value, int) else value
        if low < 1 or high < low:
            raise ValueError("replicas must be >= 1, or [min, max] with 1 <= min <= max")
        return value

    @property
    def replica_range(self) -> tuple[int, int]:
        """(min, max) actors, equal for a fixed pool."""
        if isinstance(self.replicas, int):
            return (self.replicas, self.replicas)
        return self.replicas


NOTIFY_STATES = ("succeeded", "failed", "cancelled", "rejected")


class NotifySpec(SpecModel):
    """Where to POST a JSON summary when a run ends (an operational setting: not in the fingerprint)."""

    webhook: str = Field(pattern=r"^https?://", description="URL receiving a POST per run end.")
    on: list[Literal["succeeded", "failed", "cancelled", "rejected"]] = Field(
        default_factory=lambda: list(NOTIFY_STATES), description="The end states that notify."
    )
    secret_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="Name of an environment variable holding the HMAC-SHA256 signing secret (never the secret).",
    )


CRON_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def cron_fields(expression: str) -> str:
    """Five cron fields; the aliases cronsim rejects (`@daily`, ...) translated."""
    return CRON_ALIASES.get(expression.strip().lower(), expression.strip())


class ScheduleSpec(SpecModel):
    """When the job runs by itself (an operational setting: not in the fingerprint)."""

    cron: str = Field(description="Five cron fields, or @hourly/@daily/@weekly/@monthly/@yearly.")
    timezone: str = Field(default="UTC", description="IANA time zone the cron fields are read in.")
    catchup: Literal["latest", "none"] = Field(
        default="latest", description="After downtime: submit only the newest missed slot, or none."
    )
    overlap: Literal["skip", "queue"] = Field(
        default="skip", description="A slot due while the previous run still runs: skip it, or submit it behind."
    )
    paused: bool = Field(default=False, description="No slot is submitted while true.")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from datetime import datetime

        from cronsim import CronSim, CronSimError

        try:
            CronSim(cron_fields(value), datetime.now(UTC))
        except CronSimError as exc:
            raise ValueError(f"invalid cron expression {value!r}: {exc}") from None
        return value


class BudgetSpec(SpecModel):
    """The most a run may spend (an operational setting: raise it and resume)."""

    max_output_tokens: int | None = Field(
        default=None, ge=1, description="Most tokens the engine may generate in the run (copied rows cost none)."
    )
    max_rows: int | None = Field(default=None, ge=1, description="Most input rows the run may generate.")

    @model_validator(mode="after")
    def _something_set(self) -> BudgetSpec:
        if self.max_output_tokens is None and self.max_rows is None:
            raise ValueError("budget needs max_output_tokens or max_rows")
        return self


class RetentionSpec(SpecModel):
    """Which committed runs keep their files after each commit (an operational setting)."""

    keep_runs: int | None = Field(default=None, ge=1, description="Keep the newest N committed runs.")
    keep_days: float | None = Field(default=None, gt=0, description="Keep runs committed in the last D days.")

    @model_validator(mode="after")
    def _something_set(self) -> RetentionSpec:
        if self.keep_runs is None and self.keep_days is None:
            raise ValueError("retention needs keep_runs or keep_days")
        return self


TABLE_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$"


class IcebergSpec(SpecModel):
    """An Iceberg table that each committed night replaces as its new snapshot (pyiceberg)."""

    table: str = Field(pattern=TABLE_PATTERN, description="namespace.name (a namespace may be dotted: a.b.name).")
    catalog: dict[str, Any] | None = Field(
        default=None,
        description="pyiceberg catalog properties (type, uri, warehouse, s3.*). Default for a local "
        "output root: a SQLite catalog and warehouse under {output.uri}/.pressroom/iceberg. Credentials stay in the "
        "environment; an s3 warehouse gets the endpoint and region pressroom's own S3 client uses.",
    )
    catalog_name: str | None = Field(default=None, description="The catalog's name; default: the table's namespace.")

    @property
    def namespace(self) -> str:
        return self.table.rsplit(".", 1)[0]


class PublishSpec(SpecModel):
    """Where committed runs are published besides the output root (an operational setting)."""

    iceberg: IcebergSpec


SCALE_NAMES = {"min_rouge_l": "ROUGE-L", "min_bleu": "BLEU", "min_chrf": "chrF", "max_error_rate": "the error rate"}


class GateSpec(SpecModel):
    """What a run must reach to be published (an operational setting: not in the fingerprint)."""

    min_rouge_l: float | None = Field(default=None, ge=0, description="Lowest mean ROUGE-L F (0..1).")
    min_bleu: float | None = Field(default=None, ge=0, description="Lowest mean BLEU (0..1: sacrebleu's / 100).")
    min_chrf: float | None = Field(default=None, ge=0, description="Lowest mean chrF (0..1: sacrebleu's / 100).")
    max_error_rate: float | None = Field(
        default=None, ge=0, description="Most output rows with an error, as a fraction (0..1) of all output rows."
    )

    @field_validator("min_rouge_l", "min_bleu", "min_chrf", "max_error_rate")
    @classmethod
    def _on_0_1(cls, value: float | None, info) -> float | None:
        # A threshold on another scale (chrF 30 for sacrebleu's 30.0) would be a gate that never passes
        # or, the other way round, always does: refused with the value it likely meant.
        if value is not None and value > 1:
            name = SCALE_NAMES[info.field_name]
            raise ValueError(f"{name} is on 0-1 in pressroom: did you mean {value / 100:.2f}?")
        return value


QUALITY_METRICS = ("rouge_l", "bleu", "chrf")


class QualitySpec(SpecModel):
    """Per-row scores of the generated text against a reference column, and an optional gate."""

    reference_column: str = Field(
        description="Input column holding each row's reference text (need not be in input.columns)."
    )
    metrics: list[Literal["rouge_l", "bleu", "chrf"]] = Field(
        default_factory=lambda: list(QUALITY_METRICS), description="Scores written as score_<metric> columns."
    )
    gate: GateSpec | None = Field(default=None, description="A run that misses it commits as rejected.")

    @model_validator(mode="after")
    def _gate_scores_are_computed(self) -> QualitySpec:
        if self.gate:
            for metric in QUALITY_METRICS:
                if getattr(self.gate, f"min_{metric}") is not None and metric not in self.metrics:
                    raise ValueError(f"quality.gate.min_{metric} needs {metric} in quality.metrics")
        return self


class JobSpec(SpecModel):
    """A whole job: one YAML file."""

    name: JobName = Field(
        description="Job name: letters, digits, '-', '_', starting with a letter or digit "
        "(folders starting with '_' or '.' are pressroom's own)."
    )
    input: InputSpec
    task: TaskSpec
    model: ModelSpec = Field(default_factory=ModelSpec)
    sampling: SamplingSpec = Field(default_factory=SamplingSpec)
    output: OutputSpec
    resources: ResourcesSpec = Field(default_factory=ResourcesSpec)
    notify: NotifySpec | None = Field(default=None, description="A webhook for the run's end.")
    schedule: ScheduleSpec | None = Field(default=None, description="A cron schedule for `pressroom schedule serve`.")
    mode: Literal["full", "incremental"] = Field(
        default="full",
        description="incremental: copy every row of the job's latest run whose id is still in the "
        "input and whose generation_key is unchanged; generate the rest. full: generate every row.",
    )
    budget: BudgetSpec | None = Field(default=None, description="Stop the run before it spends more than this.")
    retention: RetentionSpec | None = Field(
        default=None, description="After each commit, delete older committed runs' files (never the latest)."
    )
    quality: QualitySpec | None = Field(default=None, description="Scores against a reference, and a gate.")
    publish: PublishSpec | None = Field(
        default=None, description="Publish each committed night as a snapshot of an Iceberg table."
    )

    @model_validator(mode="after")
    def _engine_supports_task(self) -> JobSpec:
        if self.task.output_schema is not None and self.model.engine != EngineName.VLLM:
            raise ValueError("task.output_schema needs model.engine: vllm (hf has no constrained decoding)")
        if self.task.kind == TaskKind.CAPTION and not self.input.image_column:
            raise ValueError("task.kind 'caption' needs input.image_column (the column holding the images)")
        args_tp = self.model.engine_args.get("tensor_parallel_size")
        if args_tp is not None and args_tp != self.resources.tensor_parallel_size:
            raise ValueError(
                f"model.engine_args.tensor_parallel_size {args_tp} conflicts with "
                f"resources.tensor_parallel_size {self.resources.tensor_parallel_size}: set it in "
                "resources only (it also places the replica's GPUs)"
            )
        if self.resources.tensor_parallel_size > 1 and self.model.engine == EngineName.HF:
            raise ValueError(
                "resources.tensor_parallel_size > 1 needs model.engine vllm (or simulated): the hf "
                "engine runs on one device"
            )
        if (
            self.publish
            and self.publish.iceberg.catalog is None
            and "://" in self.output.uri
            and not self.output.uri.startswith("file://")
        ):
            raise ValueError(
                "publish.iceberg.catalog is required for an output root in object storage: a default "
                "catalog on one node's disk would split the truth (name the team's REST, SQL or Glue "
                "catalog)"
            )
        return self
