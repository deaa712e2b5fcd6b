"""Where the catalog commands look: the output root, and runs addressed as JOB/RUN."""

from __future__ import annotations

import os
from pathlib import Path

from jobs.errors import SpecError

OUTPUT_ENV = "PRESSROOM_OUTPUT_URI"


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
    """('nightly', '20261201T020000Z-ab12cd') from 'nightly/20261201T020000Z-ab12cd'."""
    job, sep, run = target.partition("/")
    if not sep or not job or not run or "/" in run:
        raise SpecError(f"{target!r}: name a run as JOB/RUN (run ids repeat across jobs)")
    return job, run
