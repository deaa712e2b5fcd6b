"""Where every shard of an attempt ends: one ledger of what is complete, and one way out.

A shard's rows come from up to three places: the engine stage (generated batches, any order, any
mix of shards), the run reused from (copied rows), and another row of this attempt with the same
generation key (fanned-out rows). The sink takes each shard's choice (`add`) and its generated
batches (`take`), and when everything a shard needs is there it puts the shard's file together in
input order, checks once that every row is there exactly once, scores it, and writes it:
under the budget, with the lease checked, its record last (`ShardWriter`). Progress follows.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs import state
from jobs.errors import JobError
from jobs.quality import score_table
from jobs.reuse import FILE, POSITION, PreviousRun, ShardChoice
from jobs.run.budget import Budget
from jobs.run.clock import RunClock
from jobs.run.prepare import PreparedRun
from jobs.run.progress import Progress
from schemas.manifest import Placement, Shard, ShardWork
from schemas.rows import (
    ACTOR,
    ERROR_CODE,
    GEN_END,
    GEN_START,
    GENERATION_KEY,
    INCARNATION,
    NODE,
    NUM_OUTPUT_TOKENS,
    PROMPT,
    REFERENCE,
    RENDER_ERRORS,
    ROW,
    SAMPLE_INDEX,
    SCORE_PREFIX,
    SHARD,
)
from schemas.tally import TallyColumns


class ShardWriter:
    """Writes a complete shard: within the budget, while this attempt holds the lease."""

    def __init__(self, prepared: PreparedRun, *, lease: state.RunLease, budget: Budget, progress: Progress,
                 clock: RunClock):  # fmt: skip
        self._prepared = prepared
        self._lease = lease
        self._budget = budget
        self._progress = progress
        self._clock = clock
        spec = prepared.spec
        self._columns = TallyColumns(id_column=spec.input.id_column, references=dict(spec.task.reference_columns))

    def write(self, shard: Shard, rows: pa.Table, work: ShardWork) -> None:
        spec = self._prepared.spec
        with self._clock.writing():
            self._budget.spend(shard, work)
            self._lease.check()
            state.write_shard(self._prepared.storage, self._prepared.layout, shard, rows, columns=self._columns,
                              attempt=self._lease.attempt, work=work)  # fmt: skip
        self._progress.add(rows, samples=spec.sampling.n)


class _Pending:
    """A shard on its way: its choice, and the engine stage's rows of it received so far."""

    def __init__(self, choice: ShardChoice):
        self.choice = choice
        self.parts: list[pa.Table] = []
        self.received = 0
        self.generated: pa.Table | None = None  # all of the engine stage's rows, once they are in

    @property
    def expected(self) -> int:
        return len(self.choice.generate)


class ShardSink:
    """Completes shards from their choices, their generated rows and the rows they copy."""

    @classmethod
    def for_run(cls, prepared: PreparedRun, *, previous: PreviousRun | None, wanted: set[str],
                writer: ShardWriter) -> ShardSink:  # fmt: skip
        """The sink of a prepared run: its files' schema, carried columns, samples and scores."""
        spec = prepared.spec
        return cls(schema=prepared.output_schema, keep=prepared.carried, samples=spec.sampling.n,
                   metrics=list(spec.quality.metrics) if spec.quality else [], previous=previous, wanted=wanted,
                   writer=writer)  # fmt: skip

    def __init__(self, *, schema: pa.Schema, keep: list[str], samples: int, metrics: list[str],
                 previous: PreviousRun | None, wanted: set[str], writer: ShardWriter):  # fmt: skip
        self._schema = schema
        self._samples = samples
        self._metrics = metrics
        # Scores are never copied: they are computed on every shard against tonight's reference.
        self._base = pa.schema([f for f in schema if not f.name.startswith(SCORE_PREFIX)])
        self._stage = [ROW, REFERENCE] if self._metrics else [ROW]
        # A stored prompt comes, like the kept columns, from tonight's render (identical for a copied
        # row: same generation key), never from the run copied from (which may not store it).
        self._prompt = [PROMPT] if PROMPT in schema.names else []
        self._keep = keep
        self._made = [n for n in self._base.names if n not in self._keep and n not in self._prompt]
        self._previous = previous
        self._wanted = wanted  # generation keys some follower waits for
        self._writer = writer
        self._pending: dict[int, _Pending] = {}
        self._canonical: dict[str, pa.Table] = {}  # key -> its generated rows, for followers
        # Each shard's followers' keys not generated yet, and the shards each such key holds back:
        # a shard's rows arriving re-try only the shards they complete.
        self._missing: dict[int, set[str]] = {}
        self._waiting: dict[str, set[int]] = {}

    def add(self, choice: ShardChoice) -> None:
        """Take a shard's choice; a shard needing no engine is written now, if it can be."""
        index = choice.shard.index
        self._pending[index] = _Pending(choice)
        if choice.followers is not None:
            missing = set(choice.followers.column(GENERATION_KEY).to_pylist()) - self._canonical.keys()
            if missing:
                self._missing[index] = missing
                for key in missing:
                    self._waiting.setdefault(key, set()).add(index)
        self._finish(index)

    def take(self, batch: pa.Table) -> None:
        """Generated rows from the engine stage: any shards, any order."""
        shard_ids = batch.column(SHARD)
        indexes = pc.unique(shard_ids).to_pylist()
        for index in sorted(indexes):
            pending = self._pending.get(index)
            if pending is None:
                raise JobError(f"rows for shard {index}, which is not waiting for any")
            part = batch if len(indexes) == 1 else batch.filter(pc.equal(shard_ids, index))
            pending.parts.append(part)
            pending.received += part.num_rows
            expected = pending.expected * self._samples
            if pending.received > expected:
                raise JobError(f"shard {index} received {pending.received} rows for {expected} outputs")
            if pending.received == expected:
                pending.generated = pa.concat_tables(pending.parts)
                pending.parts = []
                completed = self._keep_canonical(pending.generated)
                self._finish(index)
                for other in sorted(completed - {index}):
                    self._finish(other)

    def pending(self) -> list[int]:
        """Shards not written yet."""
        return sorted(self._pending)

    def _keep_canonical(self, table: pa.Table) -> set[int]:
        """Keep the rows some follower waits for; return the shards no longer missing any."""
        if not self._wanted:
            return set()
        keys = table.column(GENERATION_KEY)
        mask = pc.is_in(keys, value_set=pa.array(sorted(self._wanted), pa.string()))
        if not pc.any(mask).as_py():
            return set()
        found = table.filter(mask)
        completed = set()
        for key in pc.unique(found.column(GENERATION_KEY)).to_pylist():
            self._canonical[key] = found.filter(pc.equal(found.column(GENERATION_KEY), key)).select(self._made)
            for index in self._waiting.pop(key, ()):
                self._missing[index].discard(key)
                if not self._missing[index]:
                    del self._missing[index]
                    completed.add(index)
        return completed

    def _finish(self, index: int) -> None:
        """Write the shard if everything it needs is in."""
        pending = self._pending[index]
        choice, generated = pending.choice, pending.generated
        if (choice.needs_engine and generated is None) or index in self._missing:
            return
        parts = [] if generated is None else [generated]
        if choice.reused is not None:
            parts.append(self._copied(choice.reused))
        if choice.followers is not None:
            parts.append(self._fanned_out(choice.followers))
        stage = pa.schema(
            [*self._base, pa.field(ROW, pa.int64()), *([pa.field(REFERENCE, pa.string())] if self._metrics else [])]
        )
        table = pa.concat_tables([p.select(stage.names).cast(stage) for p in parts])
        table = table.sort_by([(ROW, "ascending"), (SAMPLE_INDEX, "ascending")])
        shard = choice.shard
        check_rows(table, np.arange(shard.row_start, shard.row_end, dtype=np.int64), samples=self._samples,
                   shard=shard.index)  # fmt: skip
        work = ShardWork(
            rows_reused=choice.rows_reused,
            rows_generated=choice.rows_generated,
            engine_requests=_requests(generated) if generated is not None else 0,
            output_tokens_generated=(pc.sum(generated.column(NUM_OUTPUT_TOKENS)).as_py() or 0) if generated else 0,
            placements=_placements(generated) if generated is not None else [],
        )
        if self._metrics:
            for name, column in score_table(table, metrics=self._metrics).items():
                table = table.append_column(name, column)
        del self._pending[index]
        self._writer.write(shard, table.select(self._schema.names).cast(self._schema), work)

    def _repeated(self, rows: pa.Table) -> pa.Table:
        """Kept columns (and a stored prompt) and `_row`, each row `samples` times."""
        rows = rows.select([*self._keep, *self._prompt, *self._stage])
        if self._samples == 1:
            return rows
        return rows.take(pa.array(np.repeat(np.arange(rows.num_rows), self._samples)))

    def _copied(self, reused: pa.Table) -> pa.Table:
        made = self._previous.outputs(
            reused.column(FILE).to_numpy(), reused.column(POSITION).to_numpy(), samples=self._samples,
            columns=self._made,
        )  # fmt: skip
        return _joined(self._repeated(reused), made)

    def _fanned_out(self, followers: pa.Table) -> pa.Table:
        made = pa.concat_tables([self._canonical[k] for k in followers.column(GENERATION_KEY).to_pylist()])
        return _joined(self._repeated(followers), made)


def check_rows(table: pa.Table, rows: np.ndarray, *, samples: int, shard: int) -> None:
    """The run's core invariant: sorted, a shard's keys are exactly (rows[0], 0..n-1),
    (rows[1], 0..n-1), ...: no row lost, none doubled."""
    want_rows = np.repeat(rows, samples)
    want_samples = np.tile(np.arange(samples), len(rows))
    if not (
        np.array_equal(table.column(ROW).to_numpy(), want_rows)
        and np.array_equal(table.column(SAMPLE_INDEX).to_numpy(), want_samples)
    ):
        raise JobError(f"shard {shard} lost or duplicated rows")


def _requests(generated: pa.Table) -> int:
    """Rows of the engine stage's part that reached an engine (not the render stage's error rows)."""
    firsts = generated.filter(pc.equal(generated.column(SAMPLE_INDEX), 0))
    codes = firsts.column(ERROR_CODE)
    rendered = pc.or_(pc.is_null(codes), pc.invert(pc.is_in(codes, value_set=pa.array(sorted(RENDER_ERRORS)))))
    return pc.sum(pc.fill_null(rendered, True)).as_py() or 0


def _joined(left: pa.Table, right: pa.Table) -> pa.Table:
    for name, column in zip(right.column_names, right.columns, strict=True):
        left = left.append_column(name, column)
    return left


def _placements(generated: pa.Table) -> list[Placement]:
    """Rows per (node, actor, incarnation) of the engine stage's rows (none from a local test)."""
    if NODE not in generated.column_names:
        return []
    counts = generated.group_by([NODE, ACTOR, INCARNATION]).aggregate(
        [([], "count_all"), (GEN_START, "min"), (GEN_END, "max")]
    )
    columns = (NODE, ACTOR, INCARNATION, "count_all", f"{GEN_START}_min", f"{GEN_END}_max")
    return [
        Placement(node=n, actor=a, incarnation=i, rows=c, started=s, ended=e)
        for n, a, i, c, s, e in zip(*(counts.column(c).to_pylist() for c in columns), strict=True)
    ]
