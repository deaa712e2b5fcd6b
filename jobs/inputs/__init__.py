"""A run's input, before any model loads: the table checked (files, columns, types, ids), and split
into deterministic shards."""

from jobs.inputs.shards import split_shards
from jobs.inputs.table import InputTable, inspect_input

__all__ = ["InputTable", "inspect_input", "split_shards"]
