"""The one place pressroom talks to Ray's job server (`ray.job_submission`, no torch or vLLM).

Token authentication is Ray's own: the client follows the caller's `RAY_AUTH_MODE` and finds
the token where Ray looks (`RAY_AUTH_TOKEN`, `RAY_AUTH_TOKEN_PATH`, `~/.ray/auth_token`).
"""

from __future__ import annotations

import ipaddress
import os
from urllib.parse import urlparse

from jobs.errors import HeldElsewhere, JobError, SpecError
from jobs.retry import waiting

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
AGENT_WAIT_S = 60.0  # how long a submit waits for a starting head's job agent


def job_server(address: str | None) -> str:
    """The job server's URL from `--address` or `$RAY_ADDRESS`; SpecError unless it is http(s)://."""
    url = address or os.environ.get("RAY_ADDRESS")
    if not url:
        raise SpecError(
            "no cluster to submit to: pass --address http://HOST:PORT (Ray's job server, the "
            "dashboard port, 8265 by default) or set RAY_ADDRESS to it"
        )
    if urlparse(url).scheme not in ("http", "https") or not urlparse(url).hostname:
        raise SpecError(
            f"cluster address {redact_url(url)!r}: submit and status talk to Ray's job server, so give its URL "
            "as http://HOST:PORT (`run --address` is the one that takes a GCS address)"
        )
    return url.rstrip("/")


def is_loopback(url: str) -> bool:
    """Whether the job server runs on this machine (then local paths are the cluster's paths too)."""
    return is_loopback_host(urlparse(url).hostname or "")


def is_loopback_host(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def submission_id(job: str, run_id: str, attempt: int) -> str:
    """Ray's submission id for one attempt of one run: Ray itself refuses a second submit of it."""
    return f"pressroom-{job}-{run_id}-a{attempt}"


REDACTED = "<redacted>"


def redact_url(url: str) -> str:
    """The URL with any password replaced, as Ray's CLI shows it: what pressroom stores and prints."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    netloc = parsed.netloc.replace(f":{parsed.password}@", f":{REDACTED}@", 1)
    return parsed._replace(netloc=netloc).geturl()


def with_credentials(url: str) -> str:
    """A stored (redacted) job server URL with its password back, from the caller's own
    `$RAY_ADDRESS` when that names the same server; else the URL as it is."""
    caller = os.environ.get("RAY_ADDRESS") or ""
    return (
        caller if REDACTED in url and caller.rstrip("/") and redact_url(caller).rstrip("/") == url.rstrip("/") else url
    )


def _client(url: str):
    from ray.job_submission import JobSubmissionClient

    real = with_credentials(url)
    try:
        return JobSubmissionClient(real)
    except Exception as exc:  # connection refused, auth, version: one line naming the server
        raise JobError(f"cannot reach Ray's job server at {redact_url(url)}: {_first_line(exc, real)}") from None


def _first_line(exc: BaseException, url: str = "") -> str:
    """The error's first line, with the job server's password (Ray's messages repeat the URL) hidden."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    password = urlparse(url).password if url else None
    return text.replace(f":{password}@", f":{REDACTED}@") if password else text


def submit_ray_job(
    url: str,
    *,
    entrypoint: str,
    submission: str,
    env: dict[str, str],
    working_dir: str | None = None,
    metadata: dict[str, str] | None = None,
) -> None:
    """Hand the entrypoint to the cluster. LeaseHeld if Ray already has this attempt."""
    runtime_env: dict = {"env_vars": env}
    if working_dir:
        runtime_env["working_dir"] = working_dir
    client = _client(url)
    try:
        for attempt in waiting(_AgentStarting, seconds=AGENT_WAIT_S):
            with attempt:
                _submit_once(
                    client,
                    url,
                    submission=submission,
                    entrypoint=entrypoint,
                    options={"runtime_env": runtime_env, "metadata": metadata or {}},
                )
    except _AgentStarting as exc:
        raise JobError(f"submitting to {redact_url(url)} failed: {exc}") from None


class _AgentStarting(Exception):
    """A head that just started answers 500 "No available agent" until its job agent is up."""


def _submit_once(client, url: str, *, submission: str, entrypoint: str, options: dict) -> None:
    try:
        client.submit_job(entrypoint=entrypoint, submission_id=submission, **options)
    except Exception as exc:
        if "already exists" in str(exc):
            raise HeldElsewhere(
                f"Ray job {submission} already exists on {redact_url(url)}: this attempt was submitted "
                "before (cancel it, or wait for it to end and submit again)"
            ) from None
        if "try again later" in str(exc):
            raise _AgentStarting(_first_line(exc, url)) from None
        raise JobError(f"submitting to {redact_url(url)} failed: {_first_line(exc, url)}") from None


def ray_job_status(url: str, submission: str) -> str:
    """Ray's status of the submission (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED), or why there is none."""
    try:
        return str(_client(url).get_job_status(submission).value)
    except JobError:
        return "UNREACHABLE"
    except Exception as exc:
        return "UNKNOWN" if "does not exist" in str(exc) else f"UNREACHABLE ({_first_line(exc, with_credentials(url))})"


def stop_ray_job(url: str, submission: str) -> bool:
    """Ask Ray to stop the job (SIGTERM to the driver, SIGKILL after its grace period)."""
    return bool(_client(url).stop_job(submission))


def ray_job_logs(url: str, submission: str) -> str:
    """The driver's output as Ray kept it."""
    return _client(url).get_job_logs(submission)


def follow_ray_job_logs(url: str, submission: str, write) -> None:
    """Write the driver's output as it comes, from the start, until the Ray job ends (Ray's own
    log tail over its job server's websocket)."""
    import asyncio

    async def tail() -> None:
        async for chunk in _client(url).tail_job_logs(submission):
            write(chunk)

    asyncio.run(tail())
