"""Manifest arithmetic, next to the manifest: a shard's totals, errors by code, accuracy and score
sums from its output table, and a run's from its shard records (pure functions, no I/O)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from schemas.manifest import Accuracy, QualityCount, ScoreMean, ScoreSum, ShardRecord, ShardTotals, Workers
from schemas.rows import (
    ERROR_CODE,
    FINISH_REASON,
    NUM_INPUT_TOKENS,
    NUM_OUTPUT_TOKENS,
    SAMPLE_INDEX,
    SCORE_PREFIX,
    STRUCTURED_PREFIX,
)


@dataclass(frozen=True)
class TallyColumns:
    """Which columns of a shard's output the counts read: the id (an input row counts once however
    many samples it has) and, per output field, the input column with its expected value."""

    id_column: str
    references: dict[str, str] = field(default_factory=dict)


def shard_totals(table: pa.Table, *, id_column: str) -> tuple[ShardTotals, dict[str, int]]:
    """Totals of one output table (input rows counted once, outputs n times) and errors by code."""
    failed = pc.is_valid(table.column(ERROR_CODE))
    rows_in = pc.count_distinct(table.column(id_column), mode="all").as_py()
    rows_failed = pc.count_distinct(table.filter(failed).column(id_column), mode="all").as_py()
    firsts = table.filter(pc.equal(table.column(SAMPLE_INDEX), 0)) if SAMPLE_INDEX in table.column_names else table
    totals = ShardTotals(
        rows_in=rows_in,
        rows_ok=rows_in - rows_failed,
        rows_failed=rows_failed,
        outputs=table.num_rows,
        outputs_failed=pc.sum(failed).as_py() or 0,
        outputs_truncated=pc.sum(pc.equal(table.column(FINISH_REASON), "length")).as_py() or 0
        if FINISH_REASON in table.column_names
        else 0,
        input_tokens=pc.sum(firsts.column(NUM_INPUT_TOKENS)).as_py() or 0,  # prompt tokens once per input
        output_tokens=pc.sum(table.column(NUM_OUTPUT_TOKENS)).as_py() or 0,
    )
    counts = pc.value_counts(table.column(ERROR_CODE).drop_null()).to_pylist()
    return totals, {c["values"]: c["counts"] for c in counts}


def shard_quality(table: pa.Table, *, references: dict[str, str]) -> dict[str, QualityCount]:
    """Outputs whose out_<field> equals the row's reference column, per field."""
    quality = {}
    for name, column in references.items():
        got = table.column(f"{STRUCTURED_PREFIX}{name}").to_pylist()
        want = table.column(column).to_pylist()
        quality[name] = QualityCount(
            correct=sum(g is not None and g == w for g, w in zip(got, want, strict=True)), total=len(got)
        )
    return quality


def shard_scores(table: pa.Table) -> dict[str, ScoreSum]:
    """Each score_<metric> column summed over its non-null rows."""
    sums = {}
    for name in table.column_names:
        if name.startswith(SCORE_PREFIX):
            column = table.column(name)
            sums[name[len(SCORE_PREFIX) :]] = ScoreSum(
                total=pc.sum(column).as_py() or 0.0, scored=pc.count(column).as_py()
            )
    return sums


def mean_scores(records: list[ShardRecord]) -> dict[str, ScoreMean]:
    """Each metric's mean over the run's scored rows."""
    totals: Counter[str] = Counter()
    scored: Counter[str] = Counter()
    for record in records:
        for metric, part in record.scores.items():
            totals[metric] += part.total
            scored[metric] += part.scored
    return {
        m: ScoreMean(mean=round(totals[m] / scored[m], 4) if scored[m] else None, scored=scored[m])
        for m in sorted(scored)
    }


def sum_records(records: list[ShardRecord], *, references: dict[str, str]):
    """Run totals, errors by code and accuracy per field, summed over shard records."""
    totals: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for record in records:
        totals.update(record.totals.model_dump())
        errors.update(record.errors)
        for name, count in record.quality.items():
            correct[name] += count.correct
            total[name] += count.total
    quality = {
        name: Accuracy(
            reference_column=column,
            correct=correct[name],
            total=total[name],
            accuracy=round(correct[name] / total[name], 4) if total[name] else None,
        )
        for name, column in references.items()
    }
    return {k: totals.get(k, 0) for k in ShardTotals.model_fields}, dict(sorted(errors.items())), quality


def workers_of(records: list[ShardRecord]) -> Workers:
    """Actors, rows per node and actor restarts, from the shard records' placements."""
    incarnations: dict[str, set[str]] = {}
    nodes: dict[str, int] = {}
    for record in records:
        for placement in record.work.placements:
            incarnations.setdefault(placement.actor, set()).add(placement.incarnation)
            nodes[placement.node] = nodes.get(placement.node, 0) + placement.rows
    return Workers(
        actors=len(incarnations),
        nodes=dict(sorted(nodes.items())),
        actor_restarts=sum(len(seen) - 1 for seen in incarnations.values()),
    )
