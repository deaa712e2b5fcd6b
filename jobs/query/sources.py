"""What readers may see: committed runs only, found through their manifests, never a glob.

A run without `_manifest.json` (running, failed, abandoned) contributes nothing, and of a
committed run only the files its manifest lists are read. Folders that cannot be a job's
(pressroom's own `.pressroom/` and `_`-prefixed ones, anything else not a job name) are skipped
silently; a run or `latest` pointer that cannot be read is skipped and named (`CommittedRuns.unreadable`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from jobs import state
from jobs.errors import InputError, not_found
from schemas.manifest import Manifest
from schemas.names import is_job_name
from workers.io import Storage, join, storage_for


@dataclass(frozen=True)
class CommittedRun:
    """One committed run: its manifest and where its listed files are."""

    job: str
    run_id: str
    manifest: Manifest
    run_dir: str

    @property
    def files(self) -> list[str]:
        return [join(self.run_dir, entry.path) for entry in self.manifest.files]


@dataclass(frozen=True)
class CommittedRuns:
    """The committed runs under an output root (or of one job), and each job's latest run."""

    output_uri: str
    storage: Storage
    runs: list[CommittedRun]
    latest: dict[str, str]
    unreadable: list[state.Unreadable] = field(default_factory=list)

    def run(self, job: str, run_id: str) -> CommittedRun:
        """A committed run by job and id ('latest' names the job's latest)."""
        if run_id == "latest":
            if job not in self.latest:
                raise InputError(f"job {job} has no committed run under {self.output_uri}")
            run_id = self.latest[job]
        for run in self.runs:
            if (run.job, run.run_id) == (job, run_id):
                return run
        committed = [f"{run.job}/{run.run_id}" for run in self.runs if run.job == job]
        where = f"{self.output_uri} (uncommitted runs are never read)"
        raise not_found("committed run", f"{job}/{run_id}", committed, where)


def job_names(storage: Storage, output_uri: str) -> list[str]:
    """Jobs under the root: folders with a job's name holding a runs/ folder."""
    prefix = output_uri.rstrip("/") + "/"
    names = set()
    for uri in storage.list_files(output_uri):
        name = uri[len(prefix) :].split("/", 1)[0]
        if is_job_name(name) and state.JobLayout(output_uri=output_uri, job=name).run_dir_of(uri) is not None:
            names.add(name)
    return sorted(names)


def load_committed_runs(
    output_uri: str, *, job: str | None = None, cache: state.RecordCache | None = None
) -> CommittedRuns:
    """Every committed run under the root (or of `job`), oldest commit first within a job. What
    cannot be read is skipped and listed in `unreadable`; a `job` the root does not hold is an
    InputError naming the close matches (a typo must not read as a job with no rows)."""
    storage = storage_for(output_uri)
    jobs = [job] if job else job_names(storage, output_uri)
    runs: list[CommittedRun] = []
    latest: dict[str, str] = {}
    unreadable: list[state.Unreadable] = []
    for name in jobs:
        layout = state.JobLayout(output_uri=output_uri, job=name)
        for manifest in state.committed_manifests(storage, layout, skipped=unreadable, cache=cache):
            runs.append(
                CommittedRun(
                    job=name, run_id=manifest.run_id, manifest=manifest, run_dir=layout.run(manifest.run_id).run_dir
                )
            )
        try:
            pointer = state.read_latest(storage, layout)
        except InputError as exc:
            unreadable.append(state.Unreadable(layout.latest, str(exc)))
            continue
        if pointer is not None:
            latest[name] = pointer
    if job and not runs and not unreadable:  # nothing committed: a job with none yet, or a typo?
        from jobs.catalog import check_job

        check_job(output_uri, job)
    return CommittedRuns(output_uri=output_uri, storage=storage, runs=runs, latest=latest, unreadable=unreadable)
