"""`pressroom run` joins a Ray cluster only when told to: a head someone else left running on the
machine (started with `ray start`, which a plain `ray.init()` would find) is never joined."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import TAG_VARIABLE, command_line, new_tag, reap

pytestmark = pytest.mark.slow

PORT = 26379  # outside Ray's worker-port range
PROBE = (
    "from jobs.run import init_ray, shutdown_ray; init_ray(verbose=False); import ray; "
    "print(ray.get_runtime_context().gcs_address); shutdown_ray()"
)


def _probe(env: dict) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def test_a_foreign_head_is_joined_only_through_ray_address(tmp_path):
    tag = new_tag()
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", TAG_VARIABLE: tag}
    env.pop("RAY_ADDRESS", None)
    ray = Path(sys.executable).with_name("ray")
    head = subprocess.Popen(
        [
            str(ray),
            "start",
            "--head",
            "--block",
            f"--port={PORT}",
            "--num-cpus=1",
            "--include-dashboard=false",
            "--disable-usage-stats",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        joined = None
        deadline = time.monotonic() + 90
        while joined is None and time.monotonic() < deadline:  # the head is up once an explicit join works
            try:
                joined = _probe({"RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": f"127.0.0.1:{PORT}"})
            except AssertionError:
                time.sleep(1)
        assert joined is not None and joined.endswith(f":{PORT}")
        private = _probe({"RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": None})
        assert not private.endswith(f":{PORT}")  # its own local Ray, not the head left running
    finally:
        head.terminate()
        leftovers = reap(tag)
    assert leftovers == [], [command_line(p) for p in leftovers]
