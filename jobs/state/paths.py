"""The one place that builds run paths: names are a function of (job, run, shard, attempt).

```
{output}/{job}/latest                          newest committed run
{output}/{job}/schedule/{slot}.json            one claim per cron slot (written once)
{output}/{job}/schedule/_paused.json           present while the job's schedule is paused
{output}/{job}/runs/{run}/_run.json            the run's plan (written once)
{output}/{job}/runs/{run}/_lease.json          which attempt is generating, by whom, until when
{output}/{job}/runs/{run}/_state.json          queued|running|committing|succeeded|failed|cancelled|rejected
{output}/{job}/runs/{run}/data/shard-k-aN.parquet  shard k's data, written by attempt N
{output}/{job}/runs/{run}/shards/shard-k.json  completion record, after the data is checked
{output}/{job}/runs/{run}/_manifest.json       written last: the reader's contract
{output}/{job}/runs/{run}/_published.json      the Iceberg snapshot the run became (publish.iceberg)
{output}/.pressroom/iceberg/                   the default SQLite catalog and warehouse (local roots)
```
"""

from __future__ import annotations

from dataclasses import dataclass

from jobs.errors import InputError
from schemas.names import is_job_name, is_run_id
from workers.io import join

MANIFEST_NAME = "_manifest.json"
PLAN_NAME = "_run.json"
LEASE_NAME = "_lease.json"
STATE_NAME = "_state.json"
PUBLISHED_NAME = "_published.json"
LATEST_NAME = "latest"
RUNS_DIR = "runs"
DATA_DIR = "data"
SHARDS_DIR = "shards"
SCHEDULE_DIR = "schedule"
PAUSED_NAME = "_paused.json"
PROBE_DIR = ".pressroom"  # under the output root; a dot keeps it apart from job names


@dataclass(frozen=True)
class JobLayout:
    """Where a job's runs and its `latest` pointer live under the output root. The job name is
    checked here, where every path is built: a name that could leave its folder never becomes one."""

    output_uri: str
    job: str

    def __post_init__(self) -> None:
        if not is_job_name(self.job):
            raise InputError(
                f"{self.job!r} is not a job name (letters, digits, '-', '_', starting with a letter or digit)"
            )

    @property
    def job_dir(self) -> str:
        return join(self.output_uri, self.job)

    @property
    def runs_dir(self) -> str:
        return join(self.job_dir, RUNS_DIR)

    @property
    def latest(self) -> str:
        return join(self.job_dir, LATEST_NAME)

    @property
    def schedule_dir(self) -> str:
        return join(self.job_dir, SCHEDULE_DIR)

    @property
    def paused(self) -> str:
        return join(self.schedule_dir, PAUSED_NAME)

    def slot_claim(self, slot: str) -> str:
        return join(self.schedule_dir, f"{slot}.json")

    def run(self, run_id: str) -> RunLayout:
        """The layout of one of this job's runs."""
        return RunLayout(output_uri=self.output_uri, job=self.job, run_id=run_id)

    def run_id_of(self, uri: str) -> str | None:
        """The run folder's name for a file listed under `runs_dir`, or None (not checked: a listing
        may hold anything)."""
        prefix = self.runs_dir + "/"
        if not uri.startswith(prefix) or "/" not in uri[len(prefix) :]:
            return None
        return uri[len(prefix) :].split("/", 1)[0]

    def run_dir_of(self, uri: str) -> str | None:
        """The run directory holding a file listed under `runs_dir`, or None."""
        run_id = self.run_id_of(uri)
        return None if run_id is None else join(self.runs_dir, run_id)


@dataclass(frozen=True)
class RunLayout(JobLayout):
    """Where one run's files live (the run id checked like the job name)."""

    run_id: str

    def __post_init__(self) -> None:
        super().__post_init__()
        if not is_run_id(self.run_id):
            raise InputError(
                f"{self.run_id!r} is not a run id (letters, digits, '.', '_', '-', at most 128, starting "
                "with a letter or digit)"
            )

    @property
    def run_dir(self) -> str:
        return join(self.runs_dir, self.run_id)

    @property
    def manifest(self) -> str:
        return join(self.run_dir, MANIFEST_NAME)

    @property
    def plan(self) -> str:
        return join(self.run_dir, PLAN_NAME)

    @property
    def lease(self) -> str:
        return join(self.run_dir, LEASE_NAME)

    @property
    def state(self) -> str:
        return join(self.run_dir, STATE_NAME)

    @property
    def published(self) -> str:
        return join(self.run_dir, PUBLISHED_NAME)

    @property
    def data_dir(self) -> str:
        return join(self.run_dir, DATA_DIR)

    @property
    def shards_dir(self) -> str:
        return join(self.run_dir, SHARDS_DIR)

    @staticmethod
    def data_path(shard: int, attempt: int) -> str:
        """Data file path relative to the run directory: each attempt writes names of its own, so
        nothing a shard record or manifest lists is ever overwritten."""
        return f"{DATA_DIR}/shard-{shard:05d}-a{attempt}.parquet"

    def shard_record(self, shard: int) -> str:
        return join(self.shards_dir, f"shard-{shard:05d}.json")


def run_dir_of(target: str) -> str:
    """The run directory named by a run directory or by its manifest's path."""
    target = target.rstrip("/")
    if target.endswith("/" + MANIFEST_NAME) or target == MANIFEST_NAME:
        target = target[: -len(MANIFEST_NAME)].rstrip("/")
    return target


def run_path_parts(run_dir: str) -> tuple[str, str, str] | None:
    """(output root, job, run id) of a run directory `{output}/{job}/runs/{run}`, or None."""
    parts = run_dir.rstrip("/").rsplit("/", 3)
    if len(parts) == 3:  # JOB/runs/RUN, relative to the current directory
        parts = [".", *parts]
    if len(parts) != 4 or parts[2] != RUNS_DIR or not is_job_name(parts[1]) or not is_run_id(parts[3]):
        return None
    return parts[0] or "/", parts[1], parts[3]
