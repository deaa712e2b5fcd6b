"""Planning a run before any model loads: check the input table, split it into shards."""

from jobs.plan.inputs import InputTable, inspect_input
from jobs.plan.shards import plan_shards

__all__ = ["InputTable", "inspect_input", "plan_shards"]
