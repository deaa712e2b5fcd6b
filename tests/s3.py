"""A real S3 server (moto) on loopback, and a fault-injecting proxy in front of it, for tests.

Both run as separate processes, each in its own process group, and are reaped on teardown
(the teardown asserts that no process of the group is left).

Fixtures here are not collected automatically: `tests/conftest.py` (or a test module) must
import them by name:

    from tests.s3 import faulty_s3, s3_bucket, s3_server  # noqa: F401

- `s3_server` (session): starts `moto_server`, points the standard AWS variables at it for the
  session (`AWS_ENDPOINT_URL`, test credentials, `AWS_REGION`), restores them afterwards, and
  yields the endpoint URL.
- `s3_bucket` (function): a fresh, empty bucket on that server; yields its name.
- `faulty_s3` (function): a `tests.fault_proxy` process in front of the server that answers 30%
  of requests with `503 SlowDown`; yields its URL. Tests point `AWS_ENDPOINT_URL` at it
  themselves (e.g. with `monkeypatch.setenv`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# Variables that would let the developer's own AWS setup leak into tests.
_CLEARED = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL_S3")


def free_port() -> int:
    """A TCP port that was free on loopback a moment ago."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is pgid, read from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(entry.name))
    return members


def stop_group(process: subprocess.Popen) -> None:
    """Kill a process started with start_new_session=True and everything in its group."""
    pgid = process.pid  # a session leader's group id is its pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        process.wait(timeout=5)
    deadline = time.monotonic() + 5
    while group_members(pgid) and time.monotonic() < deadline:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        time.sleep(0.05)
    left = group_members(pgid)
    assert not left, f"processes {left} of group {pgid} survived teardown"


def _wait_until_answers(url: str, process: subprocess.Popen, *, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it is serving
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


@contextlib.contextmanager
def running_moto_server() -> Iterator[tuple[str, subprocess.Popen]]:
    """(endpoint URL, process) of a moto S3 server on loopback, stopped on exit."""
    binary = Path(sys.executable).parent / "moto_server"
    port = free_port()
    process = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_until_answers(f"{url}/moto-api/", process)
        yield url, process
    finally:
        stop_group(process)


@contextlib.contextmanager
def running_fault_proxy(
    upstream: str, *, fault_rate: float, seed: int = 0, lose_answer: str | None = None, strip_conditional: bool = False
) -> Iterator[tuple[str, subprocess.Popen]]:
    """(URL, process) of a tests.fault_proxy in front of upstream, stopped on exit."""
    extra = ["--lose-answer", lose_answer] if lose_answer else []
    extra += ["--strip-conditional"] if strip_conditional else []
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fault_proxy",
            "--upstream",
            upstream,
            "--port",
            "0",
            "--fault-rate",
            str(fault_rate),
            "--seed",
            str(seed),
            *extra,
        ],
        cwd=REPO_ROOT,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()  # the proxy prints its URL once it listens
        if not url.startswith("http://"):
            raise RuntimeError(f"fault proxy did not start (exit code {process.poll()})")
        _wait_until_answers(f"{url}/__stats", process)
        yield url, process
    finally:
        stop_group(process)
        process.stdout.close()


def proxy_stats(url: str) -> dict[str, int]:
    """The proxy's counters: requests, faults, forwarded, chunked, answers_lost, and methods."""
    with urllib.request.urlopen(f"{url}/__stats", timeout=5) as response:
        return json.load(response)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A moto S3 server for the session, with the AWS environment pointed at it."""
    settings = {
        **TEST_CREDENTIALS,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",  # never probe an instance role from a test
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    touched = [*settings, "AWS_ENDPOINT_URL", *_CLEARED]
    saved = {name: os.environ.get(name) for name in touched}
    with running_moto_server() as (url, _process):
        for name in _CLEARED:
            os.environ.pop(name, None)
        os.environ.update(settings, AWS_ENDPOINT_URL=url)
        try:
            yield url
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@pytest.fixture
def s3_bucket(s3_server: str) -> str:
    """A fresh bucket on the session's S3 server (created directly, never through a proxy)."""
    import boto3

    name = f"test-{uuid.uuid4().hex[:16]}"
    client = boto3.session.Session().client("s3", endpoint_url=s3_server, region_name="us-east-1")
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def faulty_s3(s3_server: str) -> Iterator[str]:
    """A proxy in front of s3_server that answers 30% of requests with 503 SlowDown."""
    with running_fault_proxy(s3_server, fault_rate=0.3, seed=1234) as (url, _process):
        yield url
