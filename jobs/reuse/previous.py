"""The run an incremental run reuses from: an index of its reusable rows, and reads of their outputs.

A row is reusable when every one of its samples has no error_code: error rows are generated
again. A retry (`pressroom retry`) also copies rows whose errors are not retryable, and, when
the spec is unchanged, rows that failed to render (they have no generation key: matched by id).
The index holds, per reusable id, its generation key and where its first sample sits (data file,
position): Arrow columns, joined vectorised against tonight's rows.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jobs import state
from jobs.errors import JobError
from schemas.manifest import Manifest
from schemas.rows import ERROR_CODE, GENERATION_KEY, RETRYABLE_ERRORS, SAMPLE_INDEX
from schemas.state import FINAL, RunStateName
from workers.io import Storage, join

FILE = "_file"
POSITION = "_position"
FILES_CACHED = 8  # decoded data files kept while copying (rows of one shard usually sit in one or two)


class PreviousRun:
    """A committed run's reusable rows, by id and generation key."""

    def __init__(
        self,
        storage: Storage,
        layout: state.RunLayout,
        manifest: Manifest,
        *,
        id_column: str,
        retry_spec: str | None = None,
    ):
        self.run_id = layout.run_id
        self._retry = retry_spec is not None
        self._unrendered_by_id = self._retry and retry_spec == manifest.spec_sha256
        self._storage = storage
        self._entries = list(manifest.files)
        self._files = [join(layout.run_dir, entry.path) for entry in manifest.files]
        self._id_column = id_column
        self._cache: OrderedDict[int, pa.Table] = OrderedDict()
        self.index = self._build_index()

    def _build_index(self) -> pa.Table:
        parts = []
        for number in range(len(self._files)):
            parquet = self._verified(number)
            wanted = [self._id_column, SAMPLE_INDEX, GENERATION_KEY, ERROR_CODE]
            if any(name not in parquet.schema_arrow.names for name in wanted):
                continue  # written before generation keys, or under another id column: nothing to reuse
            table = parquet.read(columns=wanted)
            parts.append(
                table.append_column(FILE, pa.array(np.full(table.num_rows, number, dtype=np.int32))).append_column(
                    POSITION, pa.array(np.arange(table.num_rows, dtype=np.int64))
                )
            )
        if not parts:
            return pa.table(
                {
                    "id": pa.array([], pa.null()),
                    GENERATION_KEY: pa.array([], pa.string()),
                    FILE: pa.array([], pa.int32()),
                    POSITION: pa.array([], pa.int64()),
                }
            )
        rows = pa.concat_tables(parts, promote_options="permissive")
        bad = pc.is_valid(rows.column(ERROR_CODE))
        if self._retry:  # only retryable errors are generated again
            bad = pc.and_(bad, pc.is_in(rows.column(ERROR_CODE), value_set=pa.array(sorted(RETRYABLE_ERRORS))))
        failed = pc.unique(rows.filter(bad).column(self._id_column))
        firsts = rows.filter(
            pc.and_(
                pc.equal(rows.column(SAMPLE_INDEX), 0),
                pc.invert(pc.is_in(rows.column(self._id_column), value_set=failed)),
            )
        )
        if not self._unrendered_by_id:
            firsts = firsts.filter(pc.is_valid(firsts.column(GENERATION_KEY)))
        return pa.table(
            {
                "id": firsts.column(self._id_column),
                GENERATION_KEY: firsts.column(GENERATION_KEY),
                FILE: firsts.column(FILE),
                POSITION: firsts.column(POSITION),
            }
        )

    @property
    def rows(self) -> int:
        """Reusable rows."""
        return self.index.num_rows

    def match(self, ids: pa.Array, keys: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For tonight's rows (ids and generation keys): which match a reusable row, and where
        that row's first sample is (file number, position); -1 where none."""
        count = len(ids)
        files = np.full(count, -1, dtype=np.int64)
        positions = np.full(count, -1, dtype=np.int64)
        if count == 0 or self.index.num_rows == 0:
            return np.zeros(count, dtype=bool), files, positions
        index = self.index
        try:
            index = index.set_column(0, "id", index.column("id").cast(ids.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return np.zeros(count, dtype=bool), files, positions  # the id column changed type: reuse nothing
        tonight = pa.table({"id": ids, GENERATION_KEY: keys, "_i": pa.array(np.arange(count, dtype=np.int64))})
        joined = tonight.join(index, keys=["id", GENERATION_KEY], join_type="inner")
        if self._unrendered_by_id:  # rows that failed to render both times (null keys) match by id
            unrendered = index.filter(pc.is_null(index.column(GENERATION_KEY))).drop_columns([GENERATION_KEY])
            nulls = tonight.filter(pc.is_null(tonight.column(GENERATION_KEY))).drop_columns([GENERATION_KEY])
            joined = pa.concat_tables(
                [
                    joined.select(["_i", FILE, POSITION]),
                    nulls.join(unrendered, keys=["id"], join_type="inner").select(["_i", FILE, POSITION]),
                ]
            )
        at = joined.column("_i").to_numpy()
        files[at] = joined.column(FILE).to_numpy()
        positions[at] = joined.column(POSITION).to_numpy()
        return files >= 0, files, positions

    def outputs(self, files: np.ndarray, positions: np.ndarray, *, samples: int, columns: list[str]) -> pa.Table:
        """The `columns` of the rows whose first samples are at (files, positions), `samples` rows
        each, in the order given."""
        pieces = []
        for number in dict.fromkeys(files.tolist()):
            chosen = np.flatnonzero(files == number)
            take = (positions[chosen][:, None] + np.arange(samples)).ravel()
            table = self._file(number)
            pieces.append((chosen, table.select(columns).take(pa.array(take))))
        if not pieces:
            return pa.table({})
        # back into the order given: rows were grouped by file above
        order = np.argsort(np.concatenate([chosen for chosen, _ in pieces]), kind="stable")
        whole = pa.concat_tables([table for _, table in pieces], promote_options="permissive")
        return whole.take(pa.array((order[:, None] * samples + np.arange(samples)).ravel()))

    def _verified(self, number: int) -> pq.ParquetFile:
        """A listed data file, read whole and checked against the size and sha256 its manifest
        records before a byte of it is copied: a changed file fails the run, never seeds it."""
        uri, entry = self._files[number], self._entries[number]
        data = self._storage.read_bytes(uri)
        if len(data) != entry.bytes or state.sha256_hex(data) != entry.sha256:
            raise JobError(
                f"{uri} no longer matches the manifest of run {self.run_id} (size or sha256): its rows "
                "are not reused; restore the file, or run with mode: full"
            )
        return pq.ParquetFile(pa.BufferReader(data))

    def _file(self, number: int) -> pa.Table:
        if number in self._cache:
            self._cache.move_to_end(number)
            return self._cache[number]
        table = self._verified(number).read()
        self._cache[number] = table
        if len(self._cache) > FILES_CACHED:
            self._cache.popitem(last=False)
        return table


def previous_run(
    storage: Storage, job: state.JobLayout, run_id: str | None, *, id_column: str, retry_spec: str | None = None
) -> PreviousRun | None:
    """The committed run `run_id` of the job as a PreviousRun; None when there is none to reuse.
    `retry_spec` (the retrying run's spec fingerprint) makes it a retry's source: rejected runs too."""
    if run_id is None:
        return None
    layout = job.run(run_id)
    manifest = state.read_manifest(storage, layout)
    allowed = FINAL if retry_spec is not None else {RunStateName.SUCCEEDED}
    if manifest is None or manifest.state not in allowed:
        return None
    return PreviousRun(storage, layout, manifest, id_column=id_column, retry_spec=retry_spec)
