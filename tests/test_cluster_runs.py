"""Submit to a real Ray head with its job server and walk away: submit and --wait, status while
running, cancel then resume to a clean run's rows, a killed driver seen as lost, a job's history,
and webhooks against a real receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.builders import article_rows, tiny_spec, write_spec, write_table
from tests.processes import TAG_VARIABLE, command_line, new_tag, reap
from tests.webhook_receiver import webhook_receiver

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent


def cli(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    tag = new_tag()
    try:
        return subprocess.run(
            [sys.executable, "-m", "jobs.cli", *args],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=timeout,
            env={**os.environ, "HF_HUB_OFFLINE": "1", TAG_VARIABLE: tag, **(env or {})},
        )
    finally:
        assert reap(tag) == []


def _spec(tmp_path: Path, tiny_model: Path, *, rows: int = 24, name: str = "job.yaml", **overrides) -> Path:
    table = tmp_path / "in.parquet"
    if not table.exists():
        write_table(table, article_rows(rows))
    return write_spec(
        tmp_path / name,
        tiny_spec(
            model=tiny_model,
            input_uri=table,
            output_uri=tmp_path / "out",
            engine="hf",
            input={"rows_per_shard": 4},
            resources={"batch_size": 4},
            **overrides,
        ),
    )


def _rows(run_dir: Path) -> list[dict]:
    manifest = json.loads((run_dir / "_manifest.json").read_text())
    rows = []
    for entry in manifest["files"]:
        rows += pq.read_table(run_dir / entry["path"], columns=["id", "text", "num_output_tokens"]).to_pylist()
    return rows


def _job_api_and_logs(ray_head) -> str:
    """Everything a client of Ray's job API gets back (`GET /api/jobs/`, as any non-browser client
    sees it), and every log file of the head's sessions."""
    probe = (
        "import sys; from ray.job_submission import JobSubmissionClient as C; "
        f"sys.stdout.write(C({ray_head.url!r})._do_request('GET', '/api/jobs/').text)"
    )
    answer = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **ray_head.auth_env},
    )
    assert answer.returncode == 0 and '"submission_id"' in answer.stdout, answer.stderr[-2000:]
    logs = [p.read_text(errors="replace") for p in Path(ray_head.temp_dir).glob("session_*/logs/**/*") if p.is_file()]
    assert logs, "the head wrote no logs?"
    return answer.stdout + "\n".join(logs)


def test_submit_and_wait_then_status_runs_and_logs(ray_head, tiny_model, tmp_path):
    secret = f"hook-secret-{os.getpid()}-{time.time_ns()}"
    with webhook_receiver() as (url, received):
        spec = _spec(tmp_path, tiny_model, notify={"webhook": url, "on": ["succeeded"], "secret_env": "HOOK_SECRET"})
        env = {**ray_head.auth_env, "HOOK_SECRET": secret}
        began = time.monotonic()
        done = cli(
            "submit",
            str(spec),
            "--address",
            ray_head.url,
            "--run-id",
            "n1",
            "--wait",
            "--json",
            "--pass-env",
            "HOOK_SECRET",
            env=env,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    # The secret reached the driver (it signed the run's webhook) and nothing Ray shows or logs.
    ((headers, body),) = received.accepted
    stamp = headers["X-Pressroom-Timestamp"].encode()
    assert (
        headers["X-Pressroom-Signature"]
        == "sha256=" + hmac.new(secret.encode(), stamp + b"." + body, hashlib.sha256).hexdigest()
    )
    assert secret not in _job_api_and_logs(ray_head) and secret not in done.stdout + done.stderr
    env = ray_head.auth_env
    summary = json.loads(done.stdout)
    assert (summary["job"], summary["run_id"], summary["state"]) == ("tiny-summaries", "n1", "succeeded")
    assert summary["ray_job_status"] in ("RUNNING", "SUCCEEDED") and not summary["version_mismatch"]
    print(f"submit --wait: {time.monotonic() - began:.1f} s")
    root = ["--output-uri", str(tmp_path / "out")]
    status = json.loads(cli("status", "tiny-summaries/n1", *root, "--json", env=env).stdout)
    assert status["state"] == "succeeded" and status["rows"] == 24 and status["shards_done"] == 6
    assert status["submission_id"] == "pressroom-tiny-summaries-n1-a1" and status["attempt"] == 1
    deadline = time.monotonic() + 60  # the run commits before its driver exits (Ray shutdown, then exit 0)
    while status["ray_job_status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(1)
        status = json.loads(cli("status", "tiny-summaries/n1", *root, "--json", env=env).stdout)
    assert status["ray_job_status"] == "SUCCEEDED"
    runs = json.loads(cli("runs", "tiny-summaries", *root, "--json", env=env).stdout)["runs"]
    assert [(r["run_id"], r["state"], r["rows"]) for r in runs] == [("n1", "succeeded", 24)]
    logs = cli("logs", "tiny-summaries/n1", *root, env=env)
    assert logs.returncode == 0 and '"run_id": "n1"' in logs.stdout  # the driver's --json line, via Ray
    followed = cli("logs", "tiny-summaries", *root, "--follow", env=env, timeout=60)  # JOB: its latest run
    assert followed.returncode == 0 and '"run_id": "n1"' in followed.stdout  # from the start, to the end
    again = cli("submit", str(spec), "--address", ray_head.url, "--run-id", "n1", "--json", env=env)
    assert again.returncode == 0 and json.loads(again.stdout)["already_committed"] is True  # nothing resubmitted


def test_status_while_running_cancel_then_resume_to_a_clean_runs_rows(ray_head, tiny_model, tmp_path):
    spec = _spec(tmp_path, tiny_model, rows=48)
    clean = cli("run", str(spec), "--run-id", "clean", "--json")
    assert clean.returncode == 0, clean.stderr[-2000:]
    env = {
        **ray_head.auth_env,
        "RAY_RUNTIME_ENV_HOOK": "tests.fault_engine.runtime_env_hook",
        "PRESSROOM_TEST_SLOW_GENERATE_S": "1.5",
        "PYTHONPATH": str(REPO),
    }
    submitted = cli(
        "submit",
        str(spec),
        "--address",
        ray_head.url,
        "--run-id",
        "slow",
        "--json",
        "--env",
        "RAY_RUNTIME_ENV_HOOK",
        "--env",
        "PRESSROOM_TEST_SLOW_GENERATE_S",
        "--env",
        "PYTHONPATH",
        env=env,
    )
    assert submitted.returncode == 0, submitted.stderr[-2000:]
    assert json.loads(submitted.stdout)["state"] == "queued"
    root = ["--output-uri", str(tmp_path / "out")]

    def status() -> dict:
        return json.loads(cli("status", "tiny-summaries/slow", *root, "--json", env=env).stdout)

    deadline = time.monotonic() + 240
    seen = status()
    while seen["state"] in ("queued", "running") and seen["shards_done"] < 2 and time.monotonic() < deadline:
        time.sleep(1)
        seen = status()
    assert seen["state"] == "running", (seen, cli("logs", "tiny-summaries/slow", *root, env=env).stdout[-3000:])
    assert 2 <= seen["shards_done"] < seen["shards_total"] == 12
    assert seen["ray_job_status"] == "RUNNING" and seen["tokens_per_s_now"] and seen["eta_s"] is not None

    cancelled = cli("cancel", "tiny-summaries/slow", *root, "--json", env=env)
    assert cancelled.returncode == 0, cancelled.stderr[-2000:]
    assert json.loads(cancelled.stdout) == {"job": "tiny-summaries", "run_id": "slow", "state": "cancelled"}
    run_dir = tmp_path / "out" / "tiny-summaries" / "runs" / "slow"
    kept = sorted(p.name for p in (run_dir / "shards").glob("*.json"))
    assert 2 <= len(kept) < 12 and not (run_dir / "_manifest.json").exists()

    resumed = cli(
        "submit", str(spec), "--address", ray_head.url, "--run-id", "slow", "--wait", "--json", env=ray_head.auth_env
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads(resumed.stdout)["attempt"] == 2 and json.loads(resumed.stdout)["state"] == "succeeded"
    manifest = json.loads((run_dir / "_manifest.json").read_text())
    assert manifest["totals"]["rows_reused"] == 4 * len(kept)
    assert _rows(run_dir) == _rows(tmp_path / "out" / "tiny-summaries" / "runs" / "clean")
    history = json.loads((run_dir / "_state.json").read_text())["history"]
    assert [t["state"] for t in history] == [
        "queued",
        "running",
        "cancelled",
        "queued",
        "running",
        "committing",
        "succeeded",
    ]


def test_a_killed_driver_is_seen_lost_and_its_webhook_says_so(tiny_model, tmp_path):
    with webhook_receiver() as (url, received):
        spec = _spec(tmp_path, tiny_model, rows=48, notify={"webhook": url})
        tag = new_tag()
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            TAG_VARIABLE: tag,
            "PRESSROOM_LEASE_SECONDS": "3",
            "RAY_RUNTIME_ENV_HOOK": "tests.fault_engine.runtime_env_hook",
            "PRESSROOM_TEST_SLOW_GENERATE_S": "1",
        }
        driver = subprocess.Popen(
            [sys.executable, "-m", "jobs.cli", "run", str(spec), "--run-id", "doomed"],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        run_dir = tmp_path / "out" / "tiny-summaries" / "runs" / "doomed"
        try:
            deadline = time.monotonic() + 240
            while not list((run_dir / "shards").glob("*.json")) and time.monotonic() < deadline:
                time.sleep(0.2)
            driver.send_signal(signal.SIGKILL)
            driver.wait(timeout=30)
        finally:
            leftovers = reap(tag)
        assert leftovers == [], [command_line(p) for p in leftovers]
        assert json.loads((run_dir / "_state.json").read_text())["state"] == "running"  # nobody recorded an end
        time.sleep(3.5)  # past the lease
        status = json.loads(
            cli("status", "tiny-summaries/doomed", "--output-uri", str(tmp_path / "out"), "--json").stdout
        )
        assert (status["state"], status["reason"]) == ("failed", "lost")
        assert received.accepted == []  # a reader without the spec records the loss but posts nowhere
        told = json.loads(cli("status", "tiny-summaries/doomed", "--spec", str(spec), "--json").stdout)
        assert told["state"] == "failed"
        assert [json.loads(body)["state"] for _, body in received.accepted] == ["failed"]
        event = json.loads(received.accepted[0][1])
        assert (event["run_id"], event["reason"], event["attempt"]) == ("doomed", "lost", 1)
        again = json.loads(cli("status", "tiny-summaries/doomed", "--spec", str(spec), "--json").stdout)
        assert again["state"] == "failed" and len(received.accepted) == 1  # recorded and told once


def test_history_of_three_runs_and_a_signed_webhook_that_fails_twice_first(tiny_model, tmp_path):
    with webhook_receiver(fail_first=2) as (url, received):
        spec = _spec(tmp_path, tiny_model, rows=8, notify={"webhook": url, "secret_env": "HOOK_SECRET"})
        secret = "s3cr3t-hook-key"
        for run in ("r1", "r2", "r3"):
            done = cli("run", str(spec), "--run-id", run, "--json", env={"HOOK_SECRET": secret})
            assert done.returncode == 0, done.stderr[-2000:]
            assert secret not in done.stdout + done.stderr
    assert received.attempts == 5 and len(received.accepted) == 3  # the first run's event took three tries
    for headers, body in received.accepted:
        signed = headers["X-Pressroom-Timestamp"].encode() + b"." + body
        expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        assert headers["X-Pressroom-Signature"] == expected
    events = [json.loads(body) for _, body in received.accepted]
    assert [(e["run_id"], e["state"], e["totals"]["rows_in"]) for e in events] == [
        ("r1", "succeeded", 8),
        ("r2", "succeeded", 8),
        ("r3", "succeeded", 8),
    ]
    runs = json.loads(cli("runs", "tiny-summaries", "--spec", str(spec), "--json").stdout)["runs"]
    assert [(r["run_id"], r["state"], r["rows"]) for r in runs] == [(f"r{i}", "succeeded", 8) for i in (1, 2, 3)]
    assert all(r["output_tokens"] == 64 and r["tokens_per_s"] and r["duration_s"] is not None for r in runs)
    jobs = json.loads(cli("jobs", "--output-uri", str(tmp_path / "out"), "--json").stdout)["jobs"]
    assert [(j["job"], j["runs"], j["last_run"]["run_id"]) for j in jobs] == [("tiny-summaries", 3, "r3")]
    for path in (tmp_path / "out").rglob("*.json"):
        assert secret not in path.read_text()


def test_a_scheduled_slot_goes_through_the_head_to_a_committed_run(ray_head, tiny_model, tmp_path):
    specs = tmp_path / "specs"
    specs.mkdir()
    _spec(specs, tiny_model, rows=8, schedule={"cron": "0 2 * * *", "timezone": "Europe/Berlin"})
    now_file = tmp_path / "now"
    now_file.write_text("2026-12-01T01:00:05+00:00")  # 02:00:05 in Berlin
    tick = cli(
        "schedule",
        "serve",
        "--specs",
        str(specs),
        "--address",
        ray_head.url,
        "--once",
        "--now-file",
        str(now_file),
        env=ray_head.auth_env,
    )
    assert tick.returncode == 0, tick.stderr[-2000:]
    assert "tiny-summaries slot 20261201T010000Z: submitted run 20261201T010000Z" in tick.stdout
    root = ["--output-uri", str(specs / "out")]
    deadline = time.monotonic() + 180
    status = {}
    while status.get("state") not in ("succeeded", "failed", "cancelled") and time.monotonic() < deadline:
        time.sleep(1)
        status = json.loads(
            cli("status", "tiny-summaries/20261201T010000Z", *root, "--json", env=ray_head.auth_env).stdout
        )
    assert status["state"] == "succeeded" and status["rows"] == 8, status
    again = cli(
        "scheduler",
        "--specs",
        str(specs),
        "--address",
        ray_head.url,
        "--once",
        "--now-file",
        str(now_file),
        env=ray_head.auth_env,
    )
    assert "submitted" not in again.stdout  # the slot is claimed: the second scheduler tick does nothing
