"""A real Ray head with its job server on loopback, for the tests that submit runs.

Its own temp dir and ports (26379 for the GCS, 28265 for the job server, 28266 for its job agent:
outside Ray's worker port range), token authentication as Ray 2.60 does it by default (a token file of its own,
passed to clients through RAY_AUTH_TOKEN_PATH), two CPUs. Stopped by process group and reaped
by an environment tag; never with Ray's stop-everything command.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import TAG_VARIABLE, new_tag, spawn_logged, stop_head

GCS_PORT = 26379
JOB_SERVER_PORT = 28265
AGENT_PORT = 28266


@dataclass(frozen=True)
class RayHead:
    """Where the head listens and the environment its clients need."""

    url: str  # the job server, for submit/status/cancel
    gcs: str  # the GCS address, for `run --address`
    auth_env: dict[str, str]
    temp_dir: str  # Ray's session folders, its logs among them


def _ready(url: str, env: dict[str, str]) -> bool:
    probe = f"from ray.job_submission import JobSubmissionClient as C; import sys; C({url!r}).list_jobs(); sys.exit(0)"
    try:
        done = subprocess.run([sys.executable, "-c", probe], env={**os.environ, **env}, capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:  # a head still starting on a busy machine: ask again until the deadline
        return False
    return done.returncode == 0


def _wait_port_free(port: int, *, timeout: float = 60) -> None:
    """A head from an earlier, failed setup may still be dying: its GCS would answer ours."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.5)


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory) -> Iterator[RayHead]:
    root = tmp_path_factory.mktemp("ray-head")
    temp_dir = tempfile.mkdtemp(prefix="prh-", dir="/tmp")  # short: Ray's unix sockets live under it (107 bytes)
    token = root / "auth_token"
    token.write_text(secrets.token_hex(32))
    auth_env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    tag = new_tag()
    env = {**os.environ, **auth_env, TAG_VARIABLE: tag, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    env.pop("RAY_ADDRESS", None)
    ray = Path(sys.executable).with_name("ray")
    for port in (GCS_PORT, JOB_SERVER_PORT):
        _wait_port_free(port)
    head = spawn_logged(
        [
            str(ray),
            "start",
            "--head",
            "--block",
            f"--port={GCS_PORT}",
            "--dashboard-host=127.0.0.1",
            f"--dashboard-port={JOB_SERVER_PORT}",
            "--include-dashboard=true",
            "--num-cpus=2",
            # The job agent's default port (52365) is taken by any other Ray on the machine, the suite's
            # own local Ray included: without an agent of its own the head refuses every submission.
            f"--dashboard-agent-listen-port={AGENT_PORT}",
            f"--temp-dir={temp_dir}",
            "--disable-usage-stats",
        ],
        root / "head.log",
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{JOB_SERVER_PORT}"
    try:
        deadline = time.monotonic() + 180
        while not _ready(url, auth_env):
            assert head.poll() is None and time.monotonic() < deadline, (root / "head.log").read_text()[-3000:]
            time.sleep(1)
        yield RayHead(url=url, gcs=f"127.0.0.1:{GCS_PORT}", auth_env=auth_env, temp_dir=temp_dir)
    finally:
        stop_head(head, tag, temp_dir)
