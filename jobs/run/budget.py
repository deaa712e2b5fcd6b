"""The run's budget: rows it may generate and tokens its engine may spend, over all attempts.

Rows are known before generation, so shards are admitted in plan order while they fit; tokens
are known once a shard is generated, so the shard that would go past the budget is not written.
Either way the run stops with state failed, reason budget; its finished shards stay, so raising
the budget and resuming completes it.
"""

from __future__ import annotations

from jobs.errors import JobError
from schemas.manifest import Shard, ShardRecord, ShardWork
from schemas.spec import BudgetSpec


class BudgetExceeded(JobError):
    """The next shard would take the run past its budget."""


class Budget:
    """What the run has spent, and the shards it may still generate."""

    def __init__(self, spec: BudgetSpec | None, *, run_id: str, done: list[ShardRecord]):
        self._spec = spec
        self._run_id = run_id
        self.rows = sum(r.work.rows_generated for r in done)
        self.tokens = sum(r.work.output_tokens_generated for r in done)
        self.stopped: str | None = None

    def admit(self, shard: Shard, rows_generated: int) -> bool:
        """Whether a shard that generates `rows_generated` rows still fits (checked in plan order)."""
        if rows_generated == 0:
            return True
        if self.stopped:
            return False
        limit = self._spec.max_rows if self._spec else None
        if limit is not None and self.rows + rows_generated > limit:
            self.stopped = self._message(
                "max_rows", limit, f"{self.rows} rows admitted", shard, f"{self.rows + rows_generated} rows"
            )
            return False
        self.rows += rows_generated
        return True

    def spend(self, shard: Shard, work: ShardWork) -> None:
        """Count a generated shard's tokens before it is written; raise if they go past the budget."""
        limit = self._spec.max_output_tokens if self._spec else None
        if limit is not None and self.tokens + work.output_tokens_generated > limit:
            self.stopped = self._message(
                "max_output_tokens",
                limit,
                f"{self.tokens} tokens generated",
                shard,
                f"{self.tokens + work.output_tokens_generated} tokens",
            )
            raise BudgetExceeded(self.stopped)
        self.tokens += work.output_tokens_generated

    def check_finished(self) -> None:
        """Raise if a shard was held back by the rows budget."""
        if self.stopped:
            raise BudgetExceeded(self.stopped)

    def _message(self, name: str, limit: int, spent: str, shard: Shard, would: str) -> str:
        return (
            f"budget.{name} {limit} reached: {spent}, and shard {shard.index} would bring the run to {would}; "
            f"finished shards are kept: raise budget.{name} and resume with --run-id {self._run_id}"
        )
