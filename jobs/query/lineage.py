"""The `runs` view: one row per committed manifest, lineage flattened into columns.

Every output row joins to its run on (`job`, `run_id`); its `prompt_sha256` ties it to the
rendered prompt, and the run's template and system-prompt hashes, model content hash, adapter
hashes, engine and version, engine args and sampling say what made it.
"""

from __future__ import annotations

import hashlib
import json

import pyarrow as pa

from jobs.query.sources import CommittedRun
from schemas.manifest import Totals


def _sha256(text: str | None) -> str | None:
    return hashlib.sha256(text.encode()).hexdigest() if text is not None else None


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def run_row(run: CommittedRun) -> dict:
    """The runs view's row for one committed run."""
    m = run.manifest
    generate = m.timings.get("generate")
    row = {
        "job": run.job,
        "run_id": run.run_id,
        "state": m.state,
        "created_at": m.created_at,
        "finished_at": m.finished_at,
        "mode": m.mode,
        "reused_from": m.reused_from,
        "id_column": m.id_column,
        "spec_sha256": m.spec_sha256,
        "task_kind": m.task.get("kind"),
        "template_sha256": _sha256(m.task.get("prompt")),
        "system_sha256": _sha256(m.task.get("system")),
        "model_source": m.model.source,
        "model_sha256": m.model.sha256,
        "engine": m.model.engine,
        "engine_version": m.model.engine_version,
        "dtype": m.model.dtype,
        "max_model_len": m.model.max_model_len,
        "engine_args": _json(m.model.engine_args),
        "adapters": _json({name: a.sha256 for name, a in m.model.adapters.items()}),
        "sampling": _json(m.sampling),
        "temperature": m.sampling.get("temperature"),
        "max_tokens": m.sampling.get("max_tokens"),
        "seed": m.sampling.get("seed"),
        "n": m.sampling.get("n", 1),
        **{f: getattr(m.totals, f) for f in Totals.model_fields},
        "errors": _json(m.errors),
        "timings": _json(m.timings),
        "generate_seconds": generate,
        "output_tokens_per_second": round(m.totals.output_tokens_generated / generate, 2) if generate else None,
        "files": len(m.files),
        "bytes": sum(f.bytes for f in m.files),
        "code_version": m.code_version,
        "run_dir": run.run_dir,
    }
    return row


SCHEMA = pa.schema(
    [
        (name, pa.string())
        for name in (
            "job",
            "run_id",
            "state",
            "created_at",
            "finished_at",
            "mode",
            "reused_from",
            "id_column",
            "spec_sha256",
            "task_kind",
            "template_sha256",
            "system_sha256",
            "model_source",
            "model_sha256",
            "engine",
            "engine_version",
            "dtype",
        )
    ]
    + [
        ("max_model_len", pa.int64()),
        ("engine_args", pa.string()),
        ("adapters", pa.string()),
        ("sampling", pa.string()),
        ("temperature", pa.float64()),
        ("max_tokens", pa.int64()),
        ("seed", pa.int64()),
        ("n", pa.int64()),
    ]
    + [(f, pa.int64()) for f in Totals.model_fields]
    + [
        ("errors", pa.string()),
        ("timings", pa.string()),
        ("generate_seconds", pa.float64()),
        ("output_tokens_per_second", pa.float64()),
        ("files", pa.int64()),
        ("bytes", pa.int64()),
        ("code_version", pa.string()),
        ("run_dir", pa.string()),
    ]
)


def runs_table(runs: list[CommittedRun]) -> pa.Table:
    """The runs view's rows as an Arrow table (typed even when there are none)."""
    return pa.Table.from_pylist([run_row(r) for r in runs], schema=SCHEMA)
