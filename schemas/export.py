"""Export the JSON Schema of the job spec and the manifest next to the models.

python -m schemas.export          # rewrite schemas/*.schema.json
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.manifest import Manifest, RunPlan, ShardRecord
from schemas.spec import JobSpec
from schemas.state import LatestPointer, Lease, PublishRecord, RunState, SlotClaim

EXPORTS: dict[str, type[BaseModel]] = {
    "job_spec.schema.json": JobSpec,
    "manifest.schema.json": Manifest,
    "shard_record.schema.json": ShardRecord,
    "run_plan.schema.json": RunPlan,
    "lease.schema.json": Lease,
    "run_state.schema.json": RunState,
    "publish_record.schema.json": PublishRecord,
    "slot_claim.schema.json": SlotClaim,
    "latest_pointer.schema.json": LatestPointer,
}
SCHEMA_DIR = Path(__file__).resolve().parent


def render_schema(model: type[BaseModel]) -> str:
    """The model's JSON Schema as stable, pretty JSON text."""
    return json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    for name, model in EXPORTS.items():
        (SCHEMA_DIR / name).write_text(render_schema(model))
        print(SCHEMA_DIR / name)


if __name__ == "__main__":
    main()
