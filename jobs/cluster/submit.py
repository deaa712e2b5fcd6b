"""Submit a run to a cluster: record it `queued`, then hand `pressroom run --run-id` to Ray.

The entrypoint is the same command a person runs locally, so a submitted run and a local run
are one code path and resume the same way. Each submission is one attempt, and Ray's submission
id is derived from (job, run, attempt): submitting a cancelled or failed run again is its next
attempt, and a second submit of a queued one is refused by Ray itself.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from jobs import state
from jobs.cluster.client import is_loopback, redact_url, submission_id, submit_ray_job
from jobs.errors import HeldElsewhere, LeaseHeld, SpecError
from schemas.spec import JobSpec
from schemas.state import FINAL, FailureReason, RunStateName
from workers.io import scheme_of, storage_for
from workers.secrets import write_secrets

# Non-secret settings a driver needs (visible in Ray's job API); secrets travel only when named with
# --pass-env, and then by reference (workers.secrets).
FORWARDED = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "HF_HUB_OFFLINE",
    "PRESSROOM_LEASE_SECONDS",
    "PRESSROOM_HOME",
    "VLLM_CPU_KVCACHE_SPACE",
)
STOP_GRACE_S = "30"  # Ray's SIGTERM-to-SIGKILL wait: time for the driver to record `cancelled`


@dataclass(frozen=True)
class Submission:
    """A run handed to a cluster."""

    job: str
    run_id: str
    attempt: int
    submission_id: str
    cluster: str


def _local_paths(spec: JobSpec) -> list[str]:
    """Spec fields naming paths on this machine, which a remote cluster cannot read."""
    found = [("input.uri", spec.input.uri), ("output.uri", spec.output.uri)]
    found += [("input.image_roots", root) for root in spec.input.image_roots]
    if spec.model.source.startswith(("/", ".", "~")):
        found.append(("model.source", spec.model.source))
    found += [("model.adapter", spec.model.adapter)] if spec.model.adapter else []
    found += [(f"model.adapters.{name}", path) for name, path in spec.model.adapters.items()]
    return [f"{field} ({value})" for field, value in found if not scheme_of(value) or scheme_of(value) == "file"]


def _next_attempt(current, lease) -> tuple[int, bool]:
    """(attempt, whether it is the one already queued)."""
    submitted = int(current.submission_id.rsplit("-a", 1)[1]) if current and current.submission_id else 0
    taken = lease[0].attempt if lease else 0
    if current is not None and current.state == RunStateName.QUEUED and submitted:
        return submitted, True
    return max(submitted, taken) + 1, False


def submit_run(
    spec: JobSpec,
    *,
    spec_path: Path,
    run_id: str,
    cluster: str,
    pass_env: list[str],
    output_uri: str | None,
    env_names: list[str] = (),
) -> Submission | None:
    """Record the run queued and submit it; None if it is already committed; HeldElsewhere if a
    live driver or a queued attempt has it. `pass_env` names secrets (sent by reference, never in
    Ray's job API); `env_names` plain settings (visible in Ray's job API)."""
    local = is_loopback(cluster)
    if not local and _local_paths(spec):
        raise SpecError(
            f"{redact_url(cluster)} is a remote cluster and cannot read local paths: {', '.join(_local_paths(spec))}; "
            "use s3:// URIs (or submit to a head on this machine)"
        )
    missing = [name for name in (*pass_env, *env_names) if name not in os.environ]
    if missing:
        raise SpecError(f"--pass-env/--env name variables that are not set: {', '.join(missing)}")
    if pass_env and not local and os.environ.get("RAY_AUTH_MODE") != "token":
        raise SpecError(
            f"--pass-env sends secrets to {redact_url(cluster)}, a remote cluster: that needs Ray's token "
            "authentication (start the cluster and this client with RAY_AUTH_MODE=token), or anyone who "
            "reaches its job server could submit a job that reads them; or give the nodes the "
            "credentials themselves (node roles, Kubernetes secrets)"
        )
    storage = storage_for(spec.output.uri)
    layout = state.RunLayout(output_uri=spec.output.uri, job=spec.name, run_id=run_id)
    current = state.read_state(storage, layout)
    lease = state.read_lease(storage, layout)
    if state.read_manifest(storage, layout) is not None or (current and current.state in FINAL):
        return None  # already committed: nothing to submit
    if lease is not None and state.is_live(lease[0]):
        raise HeldElsewhere(f"run {run_id} of job {spec.name} is held by a live driver: {state.describe(lease[0])}")
    attempt, queued_already = _next_attempt(current, lease)
    submission = submission_id(spec.name, run_id, attempt)
    env = {name: os.environ[name] for name in (*FORWARDED, *env_names) if name in os.environ}
    env["RAY_JOB_STOP_WAIT_TIME_S"] = STOP_GRACE_S
    # The job's working directory: a remote node gets the spec itself (its URIs say where everything
    # is); any node gets the secrets there, by reference, never in env_vars.
    staging = None if local and not pass_env else Path(tempfile.mkdtemp(prefix="pressroom-submit-"))
    if not local:
        shutil.copy(spec_path, staging / "job.yaml")
    if pass_env:
        env.update(write_secrets(staging, {name: os.environ[name] for name in pass_env}))
    target = str(spec_path.resolve()) if local else "job.yaml"
    program = str(Path(sys.executable).with_name("pressroom")) if local else "pressroom"
    command = [program, "run", target, "--run-id", run_id, "--json"]
    if output_uri:  # a working directory moves the driver's: a local root is named absolutely
        command += [
            "--output-uri",
            str(Path(output_uri).resolve()) if local and not scheme_of(output_uri) else output_uri,
        ]
    if not queued_already:  # a second submit of the queued attempt: Ray refuses it below
        state.record_state(
            storage,
            layout,
            RunStateName.QUEUED,
            submission_id=submission,
            cluster=redact_url(cluster),
            only_from={None, RunStateName.FAILED, RunStateName.CANCELLED},
        )
    try:
        submit_ray_job(
            cluster,
            entrypoint=shlex.join(command),
            submission=submission,
            env=env,
            working_dir=str(staging) if staging else None,
            metadata={"pressroom_job": spec.name, "pressroom_run": run_id},
        )
    except LeaseHeld:
        raise
    except Exception as exc:
        state.record_state(
            storage,
            layout,
            RunStateName.FAILED,
            reason=FailureReason.SUBMISSION,
            message=str(exc).splitlines()[0],
            only_from={RunStateName.QUEUED},
        )
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return Submission(
        job=spec.name, run_id=run_id, attempt=attempt, submission_id=submission, cluster=redact_url(cluster)
    )
