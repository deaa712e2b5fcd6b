"""Counts over output rows: totals, errors by code, and accuracy against reference columns."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from schemas.manifest import Accuracy, QualityCount, ShardRecord, ShardTotals
from schemas.rows import STRUCTURED_PREFIX


def shard_totals(table: pa.Table, *, id_column: str) -> tuple[ShardTotals, dict[str, int]]:
    """Totals of one output table (input rows counted once, outputs n times) and errors by code."""
    ids = table.column(id_column).to_pylist()
    codes = table.column("error_code").to_pylist()
    failed_ids = {i for i, code in zip(ids, codes) if code is not None}
    rows_in = len(set(ids))
    totals = ShardTotals(
        rows_in=rows_in,
        rows_ok=rows_in - len(failed_ids),
        rows_failed=len(failed_ids),
        outputs=table.num_rows,
        outputs_failed=sum(code is not None for code in codes),
        input_tokens=sum(v or 0 for v in _first_samples(table, "num_input_tokens")),
        output_tokens=sum(v or 0 for v in table.column("num_output_tokens").to_pylist()),
    )
    return totals, dict(Counter(code for code in codes if code is not None))


def _first_samples(table: pa.Table, column: str) -> list:
    """A per-input value (prompt tokens) counted once, not once per sample."""
    values = table.column(column).to_pylist()
    if "sample_index" not in table.column_names:
        return values
    return [v for v, j in zip(values, table.column("sample_index").to_pylist()) if j == 0]


def shard_quality(table: pa.Table, *, references: dict[str, str]) -> dict[str, QualityCount]:
    """Outputs whose out_<field> equals the row's reference column, per field."""
    quality = {}
    for field, column in references.items():
        got = table.column(f"{STRUCTURED_PREFIX}{field}").to_pylist()
        want = table.column(column).to_pylist()
        quality[field] = QualityCount(correct=sum(g is not None and g == w for g, w in zip(got, want)), total=len(got))
    return quality


def sum_records(records: list[ShardRecord], *, references: dict[str, str]):
    """Run totals, errors by code and accuracy per field, summed over shard records."""
    totals: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for record in records:
        totals.update(record.totals.model_dump())
        errors.update(record.errors)
        for field, count in record.quality.items():
            correct[field] += count.correct
            total[field] += count.total
    quality = {
        field: Accuracy(
            reference_column=column, correct=correct[field], total=total[field],
            accuracy=round(correct[field] / total[field], 4) if total[field] else None,
        )
        for field, column in references.items()
    }
    return {k: totals.get(k, 0) for k in ShardTotals.model_fields}, dict(sorted(errors.items())), quality
