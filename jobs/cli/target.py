"""Where the catalog commands look: the output root, and runs named one way everywhere: JOB/RUN,
JOB/latest, or JOB (= JOB/latest, the run the job's `latest` pointer names)."""

from __future__ import annotations

import os
from pathlib import Path

from jobs.errors import SpecError

OUTPUT_ENV = "PRESSROOM_OUTPUT_URI"
LATEST = "latest"


def add_root_arguments(parser) -> None:
    """--output-uri / --spec, the two ways (besides $PRESSROOM_OUTPUT_URI) to name the output root."""
    parser.add_argument("--output-uri", help=f"the jobs' output root (default: ${OUTPUT_ENV}, or --spec's)")
    parser.add_argument("--spec", help="take the output root from this job spec's output.uri")


def output_root(args) -> str:
    """The output root from --output-uri, $PRESSROOM_OUTPUT_URI, or --spec (in that order)."""
    from workers.io import scheme_of

    uri = args.output_uri or os.environ.get(OUTPUT_ENV)
    if uri:
        return uri if scheme_of(uri) else str(Path(uri).expanduser().resolve())
    if args.spec:
        from jobs.spec import load_spec

        return load_spec(args.spec).output.uri
    raise SpecError(f"which output root? pass --output-uri URI, set {OUTPUT_ENV}, or pass --spec SPEC")


def job_and_run(target: str) -> tuple[str, str]:
    """('nightly', '20261201T020000Z-ab12cd') from 'nightly/20261201T020000Z-ab12cd'; 'nightly' and
    'nightly/latest' give ('nightly', 'latest') (resolve it with `run_id`)."""
    job, sep, run = target.partition("/")
    if not job or (sep and (not run or "/" in run)):
        raise SpecError(f"{target!r}: name a run as JOB/RUN, JOB/latest or JOB (its latest run)")
    return job, run or LATEST


def named_run(args, target: str) -> tuple[str, str, str]:
    """(output root, job, run id) for a run named JOB/RUN, JOB/latest or JOB."""
    root = output_root(args)
    job, run = job_and_run(target)
    return root, job, run_id(root, job, run)


def run_id(root: str, job: str, run: str) -> str:
    """The run id `run` names: 'latest' is the run the job's latest pointer names."""
    if run != LATEST:
        return run
    from jobs import state
    from jobs.catalog import check_job
    from jobs.errors import InputError
    from workers.io import storage_for

    pointer = state.read_latest(storage_for(root), state.JobLayout(output_uri=root, job=job))
    if pointer is None:
        check_job(root, job)  # a typo: exit 2 naming the close matches
        raise InputError(f"job {job} has no committed run under {root} yet: name a run as {job}/RUN")
    return pointer
