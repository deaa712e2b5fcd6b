"""The committed JSON Schema files match the pydantic models they are exported from."""

from __future__ import annotations

import json

import pytest

from schemas.export import EXPORTS, SCHEMA_DIR, render_schema


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_committed_schema_is_current(name):
    committed = SCHEMA_DIR / name
    assert committed.is_file(), f"{committed} is missing: run `python -m schemas.export`"
    assert committed.read_text() == render_schema(EXPORTS[name]), (
        f"{committed} is stale: run `python -m schemas.export` and commit the result"
    )


def test_exports_cover_the_spec_and_every_state_record():
    assert set(EXPORTS) == {
        "job_spec.schema.json",
        "manifest.schema.json",
        "shard_record.schema.json",
        "run_plan.schema.json",
        "lease.schema.json",
        "run_state.schema.json",
        "publish_record.schema.json",
        "slot_claim.schema.json",
        "latest_pointer.schema.json",
    }
    assert {model.__name__ for model in EXPORTS.values()} == {
        "JobSpec",
        "Manifest",
        "ShardRecord",
        "RunPlan",
        "Lease",
        "RunState",
        "PublishRecord",
        "SlotClaim",
        "LatestPointer",
    }


def test_exported_schemas_forbid_unknown_keys():
    spec = json.loads(render_schema(EXPORTS["job_spec.schema.json"]))
    assert spec["additionalProperties"] is False
    assert spec["$defs"]["SamplingSpec"]["additionalProperties"] is False
    assert sorted(spec["required"]) == ["input", "name", "output", "task"]
    manifest = json.loads(render_schema(EXPORTS["manifest.schema.json"]))
    assert manifest["properties"]["status"]["enum"] == ["succeeded", "rejected"]
    assert manifest["properties"]["state"]["enum"] == ["succeeded", "rejected"]
