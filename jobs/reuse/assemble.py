"""Put each shard's file together: rows the engine generated, rows copied from the run reused
from, rows fanned out from an identical generated row; then hand it, complete, to `write`.

Copied and fanned-out rows take their id and carried columns from tonight's input and their
generated columns from where they were made. A shard whose followers wait for a row another
shard generates stays pending until that shard's rows arrive.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from jobs.errors import JobError
from jobs.reuse.previous import FILE, POSITION, PreviousRun
from jobs.reuse.select import ShardChoice
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
)


class ShardAssembler:
    """Completes shards from their choices and their generated rows."""

    def __init__(
        self,
        *,
        schema: pa.Schema,
        keep: list[str],
        samples: int,
        previous: PreviousRun | None,
        wanted: set[str],
        write: Callable[[Shard, pa.Table, ShardWork], None],
        score: Callable[[pa.Table], dict[str, pa.Array]] | None = None,
    ):
        self._schema = schema
        # Scores are never copied: they are computed on every shard against tonight's reference.
        self._base = pa.schema([f for f in schema if not f.name.startswith(SCORE_PREFIX)])
        self._stage = [ROW, REFERENCE] if score else [ROW]
        # A stored prompt comes, like the kept columns, from tonight's render (identical for a
        # copied row: same generation key), never from the run copied from (which may not store it).
        self._prompt = [PROMPT] if PROMPT in schema.names else []
        self._keep = keep
        self._made = [name for name in self._base.names if name not in keep and name not in self._prompt]
        self._score = score
        self._samples = samples
        self._previous = previous
        self._wanted = wanted
        self._write = write
        self._choices: dict[int, ShardChoice] = {}
        self._generated: dict[int, pa.Table] = {}
        self._canonical: dict[str, pa.Table] = {}  # key -> its generated rows, for followers
        # Each shard's followers' keys not generated yet, and the shards each such key holds back:
        # a shard's rows arriving re-try only the shards they complete.
        self._missing: dict[int, set[str]] = {}
        self._waiting: dict[str, set[int]] = {}

    def add(self, choice: ShardChoice) -> None:
        """Take a shard's choice; a shard needing no engine is written now, if it can be."""
        index = choice.shard.index
        self._choices[index] = choice
        if choice.followers is not None:
            missing = set(choice.followers.column(GENERATION_KEY).to_pylist()) - self._canonical.keys()
            if missing:
                self._missing[index] = missing
                for key in missing:
                    self._waiting.setdefault(key, set()).add(index)
        if not choice.needs_engine:
            self._try(index)

    def generated(self, shard: Shard, table: pa.Table) -> None:
        """The engine stage's rows of one shard (sorted, with `_row`)."""
        completed = self._keep_canonical(table)
        self._generated[shard.index] = table
        self._try(shard.index)
        for index in sorted(completed - {shard.index}):
            self._try(index)

    def pending(self) -> list[int]:
        """Shards not written yet."""
        return sorted(self._choices)

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

    def _try(self, index: int) -> None:
        choice = self._choices[index]
        if choice.needs_engine and index not in self._generated:
            return
        if index in self._missing:
            return
        followers = choice.followers
        parts = []
        generated = self._generated.pop(index, None)
        if generated is not None:
            parts.append(generated)
        if choice.reused is not None:
            parts.append(self._copied(choice.reused))
        if followers is not None:
            parts.append(self._fanned_out(followers))
        stage = pa.schema(
            [*self._base, pa.field(ROW, pa.int64()), *([pa.field(REFERENCE, pa.string())] if self._score else [])]
        )
        table = pa.concat_tables([p.select(stage.names).cast(stage) for p in parts])
        table = table.sort_by([(ROW, "ascending"), (SAMPLE_INDEX, "ascending")])
        shard = choice.shard
        check_rows(
            table, np.arange(shard.row_start, shard.row_end, dtype=np.int64), samples=self._samples, shard=shard.index
        )
        work = ShardWork(
            rows_reused=choice.rows_reused,
            rows_generated=choice.rows_generated,
            engine_requests=_requests(generated) if generated is not None else 0,
            output_tokens_generated=(pc.sum(generated.column(NUM_OUTPUT_TOKENS)).as_py() or 0) if generated else 0,
            placements=_placements(generated) if generated is not None else [],
        )
        if self._score is not None:
            for name, column in self._score(table).items():
                table = table.append_column(name, column)
        del self._choices[index]
        self._write(shard, table.select(self._schema.names).cast(self._schema), work)

    def _repeated(self, rows: pa.Table) -> pa.Table:
        """Kept columns and `_row`, each row `samples` times."""
        rows = rows.select([*self._keep, *self._prompt, *self._stage])
        if self._samples == 1:
            return rows
        return rows.take(pa.array(np.repeat(np.arange(rows.num_rows), self._samples)))

    def _copied(self, reused: pa.Table) -> pa.Table:
        made = self._previous.outputs(
            reused.column(FILE).to_numpy(),
            reused.column(POSITION).to_numpy(),
            samples=self._samples,
            columns=self._made,
        )
        return _joined(self._repeated(reused), made)

    def _fanned_out(self, followers: pa.Table) -> pa.Table:
        made = pa.concat_tables([self._canonical[k] for k in followers.column(GENERATION_KEY).to_pylist()])
        return _joined(self._repeated(followers), made)


def _requests(generated: pa.Table) -> int:
    """Rows of the engine stage's part that reached an engine (not the render stage's error rows)."""
    firsts = generated.filter(pc.equal(generated.column(SAMPLE_INDEX), 0))
    codes = firsts.column(ERROR_CODE)
    rendered = pc.or_(pc.is_null(codes), pc.invert(pc.is_in(codes, value_set=pa.array(sorted(RENDER_ERRORS)))))
    return pc.sum(pc.fill_null(rendered, True)).as_py() or 0


def check_rows(table: pa.Table, rows: np.ndarray, *, samples: int, shard: int) -> None:
    """Sorted, the keys must be exactly (rows[0], 0..n-1), (rows[1], 0..n-1), ..."""
    want_rows = np.repeat(rows, samples)
    want_samples = np.tile(np.arange(samples), len(rows))
    if not (
        np.array_equal(table.column(ROW).to_numpy(), want_rows)
        and np.array_equal(table.column(SAMPLE_INDEX).to_numpy(), want_samples)
    ):
        raise JobError(f"shard {shard} lost or duplicated rows")


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
