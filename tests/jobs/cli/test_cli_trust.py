"""The CLI trusts nothing it reads back: a tampered state file chooses no webhook, a lease's pid
is signalled only when it is the driver itself, a job server's password is never stored or
printed, and generated text cannot drive the terminal through `query`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from jobs.state import JobLayout, read_state, record_state
from jobs.state.lease import _boot_id, _process_start
from schemas.state import Lease, LeaseHolder, RunStateName
from tests.builders import committed_run, write_job
from tests.webhook_receiver import webhook_receiver
from workers.io import LocalStorage

REPO = Path(__file__).resolve().parents[3]


def _cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), **env},
        start_new_session=True,
    )  # a signal to "the caller's group" would reach only this CLI


def _running(out: Path, run_id: str, *, holder: LeaseHolder, expires_in: float, notify: dict | None = None) -> None:
    """A run recorded running whose lease names `holder`."""
    storage = LocalStorage()
    layout = JobLayout(output_uri=str(out), job="tiny-summaries").run(run_id)
    lease = Lease(
        job=layout.job,
        run_id=run_id,
        attempt=1,
        token="t",
        holder=holder,
        acquired_at="2026-12-01T00:00:00",
        expires_at=time.time() + expires_in,
    )
    storage.write_bytes(layout.lease, lease.model_dump_json().encode())
    record_state(storage, layout, RunStateName.RUNNING, attempt=1)
    if notify is not None:  # what an older release wrote, or an attacker
        data = json.loads(Path(layout.state).read_text())
        Path(layout.state).write_text(json.dumps({**data, "notify": notify}))


def test_a_reader_never_posts_where_a_state_file_says_and_a_spec_holder_tells_once(tmp_path):
    with webhook_receiver() as (planted, planted_got), webhook_receiver() as (ours, ours_got):
        spec = write_job(tmp_path / "job", notify={"webhook": ours, "secret_env": "HOOK_SECRET"})
        out = tmp_path / "job" / "out"
        elsewhere = LeaseHolder(host="elsewhere", boot_id="b", pid=4242, started="1")
        _running(
            out,
            "lost-one",
            holder=elsewhere,
            expires_in=-3600,
            notify={"webhook": planted, "on": ["failed"], "secret_env": "AWS_SECRET_ACCESS_KEY"},
        )
        root = ["--output-uri", str(out)]
        plain = _cli(
            "status",
            "tiny-summaries/lost-one",
            *root,
            "--json",
            cwd=tmp_path,
            AWS_SECRET_ACCESS_KEY="do-not-sign-with-me",
        )
        assert plain.returncode == 0, plain.stderr
        assert (json.loads(plain.stdout)["state"], json.loads(plain.stdout)["reason"]) == ("failed", "lost")
        assert planted_got.attempts == 0 and ours_got.attempts == 0  # recorded, told to nobody yet
        assert (
            read_state(
                LocalStorage(), JobLayout(output_uri=str(out), job="tiny-summaries").run("lost-one")
            ).notify_pending
            is True
        )
        for _ in range(2):  # the holder of the spec tells it, once
            told = _cli("runs", "tiny-summaries", "--spec", str(spec), "--json", cwd=tmp_path, HOOK_SECRET="k")
            assert told.returncode == 0, told.stderr
        assert planted_got.attempts == 0 and ours_got.attempts == 1
    ((headers, body),) = ours_got.accepted
    event = json.loads(body)
    assert (event["run_id"], event["state"], event["reason"]) == ("lost-one", "failed", "lost")
    assert headers["X-Pressroom-Signature"].startswith("sha256=")


def test_cancel_signals_only_the_driver_itself(tmp_path):
    write_job(tmp_path / "job")
    out = tmp_path / "job" / "out"
    here = {"host": socket.gethostname(), "boot_id": _boot_id()}
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        # pid 0 would be "the caller's process group"; a pid of another boot, or with another start
        # time, is not the driver's (a tampered lease, or a pid the kernel handed out again).
        for run_id, pid, boot, started in (
            ("group", 0, "another-boot", "1"),
            ("reboot", sleeper.pid, "another-boot", _process_start(sleeper.pid)),
            ("reused", sleeper.pid, _boot_id(), "1"),
        ):
            holder = LeaseHolder(host=socket.gethostname(), boot_id=boot, pid=pid, started=started)
            _running(out, run_id, holder=holder, expires_in=600)
            done = _cli("cancel", f"tiny-summaries/{run_id}", "--output-uri", str(out), "--timeout", "1", cwd=tmp_path)
            assert done.returncode == 1 and done.stdout.strip().startswith(f"tiny-summaries/{run_id}: "), done
        assert sleeper.poll() is None
        _running(
            out,
            "real",
            holder=LeaseHolder(pid=sleeper.pid, started=_process_start(sleeper.pid), **here),
            expires_in=600,
        )
        _cli("cancel", "tiny-summaries/real", "--output-uri", str(out), "--timeout", "1", cwd=tmp_path)
        assert sleeper.wait(timeout=10) == -15  # the driver itself (this stand-in) got its SIGTERM
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_job_server_password_is_never_stored_nor_printed(tmp_path):
    spec = write_job(tmp_path / "job")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens there once the block ends
    address = f"http://alice:s3cr3t-pw@127.0.0.1:{port}"
    done = _cli("submit", str(spec), "--address", address, "--run-id", "n1", cwd=tmp_path)
    assert done.returncode == 1 and "s3cr3t-pw" not in done.stdout + done.stderr
    state_file = tmp_path / "job" / "out" / "tiny-summaries" / "runs" / "n1" / "_state.json"
    state = json.loads(state_file.read_text())
    assert state["cluster"] == f"http://alice:<redacted>@127.0.0.1:{port}" and "s3cr3t-pw" not in state_file.read_text()
    status = _cli(
        "status", "tiny-summaries/n1", "--output-uri", str(tmp_path / "job" / "out"), cwd=tmp_path, RAY_ADDRESS=address
    )
    assert status.returncode == 0 and "alice:<redacted>@" in status.stdout and "s3cr3t-pw" not in status.stdout


def test_query_tables_show_control_characters_as_escapes(tmp_path):
    out = tmp_path / "out"
    committed_run(out)
    sql = "select 'title' || chr(27) || ']0;pwned' || chr(7) || chr(27) || '[2J' || chr(8238) || 'done' as t"
    table = _cli("query", sql, "--output-uri", str(out), cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "\x1b" not in table.stdout and "\x07" not in table.stdout and "\u202e" not in table.stdout
    assert "title\\x1b]0;pwned\\x07\\x1b[2J\\u202edone" in table.stdout
    csv = _cli("query", sql, "--output-uri", str(out), "--format", "csv", cwd=tmp_path)
    assert "\x1b" in csv.stdout  # csv is data: passed through as it is (the README says so)
