"""The light CLI paths in a fresh interpreter: exit codes, output, and no heavy imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import committed_run, write_job

HEAVY = ["torch", "vllm", "ray", "transformers"]

# Runs the CLI in-process, then reports which heavy modules the command imported.
PROBE = f"""
import json, sys
from jobs.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
print("PROBE " + json.dumps({{"code": code, "heavy": heavy}}))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HF_HUB_OFFLINE="1", PRESSROOM_HOME=str(tmp_path / "home"))
    return env


def _probe(tmp_path: Path, *args: str) -> tuple[int, list[str], str]:
    """(exit code from main, heavy modules loaded, stdout before the probe line)."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(tmp_path),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    stdout, _, probe = done.stdout.rpartition("PROBE ")
    result = json.loads(probe)
    return result["code"], result["heavy"], stdout


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(tmp_path),
        timeout=60,
    )


def test_help_imports_nothing_heavy(tmp_path):
    code, heavy, stdout = _probe(tmp_path, "--help")
    assert code == 0
    assert heavy == []
    assert "usage: pressroom" in stdout
    for command in ("run", "validate", "show"):
        assert command in stdout


def test_validate_imports_nothing_heavy(tmp_path):
    spec = write_job(tmp_path / "job", rows=10)
    code, heavy, stdout = _probe(tmp_path, "validate", str(spec))
    assert (code, heavy) == (0, [])
    assert stdout.strip() == "ok: job tiny-summaries: 10 rows in 1 file(s), 3 shard(s)"


def test_show_imports_nothing_heavy(tmp_path):
    layout, manifest = committed_run(tmp_path / "out")
    code, heavy, stdout = _probe(tmp_path, "show", "--verify", layout.run_dir)
    assert (code, heavy) == (0, [])
    lines = stdout.splitlines()
    assert lines[0] == f"job {manifest.job}  run {manifest.run_id}  succeeded  finished {manifest.finished_at}"
    assert "rows 7 in, 6 ok, 1 failed" in stdout
    assert "errors: template_error=1" in stdout
    assert f"  data/shard-00000-a1.parquet  4 rows  {manifest.files[0].bytes} bytes" in stdout
    assert lines[-1] == "verify: ok"


@pytest.mark.parametrize("command", ["jobs", "runs", "status"])
def test_catalog_commands_import_nothing_heavy_and_show_the_committed_run(tmp_path, command):
    layout, manifest = committed_run(tmp_path / "out")
    args = {"jobs": [], "runs": [manifest.job], "status": [f"{manifest.job}/{manifest.run_id}"]}[command]
    code, heavy, stdout = _probe(tmp_path, command, *args, "--output-uri", str(tmp_path / "out"), "--json")
    assert (code, heavy) == (0, [])
    found = json.loads(stdout)
    if command == "jobs":
        assert [(j["job"], j["runs"], j["last_run"]["run_id"]) for j in found["jobs"]] == [
            (manifest.job, 1, manifest.run_id)
        ]
    elif command == "runs":
        assert [(r["run_id"], r["state"], r["rows"]) for r in found["runs"]] == [(manifest.run_id, "succeeded", 7)]
    else:
        assert (found["state"], found["rows"], found["shards_done"], found["shards_total"]) == ("succeeded", 7, 2, None)


def test_catalog_commands_need_an_output_root_and_a_job_slash_run(tmp_path):
    env_free = _cli(tmp_path, "status", "nightly/r1")
    assert env_free.returncode == 2 and "which output root?" in env_free.stderr
    bad = _cli(tmp_path, "status", "nightly/a/b", "--output-uri", str(tmp_path))
    assert bad.returncode == 2 and "name a run as JOB/RUN, JOB/latest or JOB" in bad.stderr
    missing = _cli(tmp_path, "status", "nightly/r1", "--output-uri", str(tmp_path))
    assert missing.returncode == 2 and "no run nightly/r1" in missing.stderr


def test_validate_json_prints_one_object(tmp_path):
    spec = write_job(tmp_path / "job", rows=9)
    done = _cli(tmp_path, "validate", "--json", str(spec))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"job": "tiny-summaries", "valid": True, "files": 1, "rows": 9, "shards": 3}
    assert len(done.stdout.strip().splitlines()) == 1


def test_invalid_spec_exits_2_naming_the_field(tmp_path):
    spec = write_job(tmp_path / "job", sampling={"temprature": 0.5})
    done = _cli(tmp_path, "validate", str(spec))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"error: invalid job spec {spec}")
    assert "sampling.temprature: unknown key" in done.stderr


def test_missing_input_column_exits_2(tmp_path):
    spec = write_job(tmp_path / "job", task={"prompt": "{{ headline }}"})
    done = _cli(tmp_path, "validate", "--json", str(spec))
    assert done.returncode == 2
    assert done.stdout == ""
    assert "error: input file " in done.stderr
    assert "no column 'headline' (needed by task.prompt)" in done.stderr


def test_missing_model_directory_exits_2(tmp_path):
    spec = write_job(tmp_path / "job", model={"source": "./no-such-model"})
    done = _cli(tmp_path, "validate", str(spec))
    assert done.returncode == 2
    assert "model.source: model directory" in done.stderr
    assert "does not exist" in done.stderr


def test_show_json_and_verify_tampered_file_exits_1(tmp_path):
    layout, manifest = committed_run(tmp_path / "out")
    done = _cli(tmp_path, "show", "--json", layout.manifest)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == manifest.model_dump(mode="json")

    path = Path(layout.run_dir) / "data" / "shard-00000-a1.parquet"
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    done = _cli(tmp_path, "show", "--verify", layout.run_dir)
    assert done.returncode == 1
    assert "verify: FAILED\n  data/shard-00000-a1.parquet: sha256 mismatch" in done.stdout

    done = _cli(tmp_path, "show", "--verify", "--json", layout.run_dir)
    assert done.returncode == 1
    assert json.loads(done.stdout)["verify"] == {
        "ok": False,
        "problems": ["data/shard-00000-a1.parquet: sha256 mismatch"],
    }


def test_show_verify_of_a_manifest_pointing_outside_the_run_exits_2(tmp_path):
    import hashlib

    layout, _ = committed_run(tmp_path / "out")
    outside = Path(layout.job_dir) / "stolen.parquet"
    outside.write_bytes(b"elsewhere")
    manifest = json.loads(Path(layout.manifest).read_text())
    manifest["files"][0].update(path="../../stolen.parquet", bytes=9, sha256=hashlib.sha256(b"elsewhere").hexdigest())
    Path(layout.manifest).write_text(json.dumps(manifest))
    done = _cli(tmp_path, "show", "--verify", layout.run_dir)
    assert done.returncode == 2 and done.stdout == ""
    assert "is not a valid Manifest: files.0.path" in done.stderr and "not a plain path" in done.stderr


def test_version_flag(tmp_path):
    done = _cli(tmp_path, "--version")
    assert done.returncode == 0 and done.stdout.startswith("pressroom 0.")


def test_show_uncommitted_dir_exits_2(tmp_path):
    done = _cli(tmp_path, "show", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr == (
        f"error: {tmp_path} is not a run directory (OUTPUT/JOB/runs/RUN): a run is read only where "
        "its job and run ids say it lies\n"
    )


@pytest.mark.parametrize("args", [[], ["frobnicate"], ["validate"]])
def test_usage_errors_exit_2(tmp_path, args):
    done = _cli(tmp_path, *args)
    assert done.returncode == 2
    assert "usage: pressroom" in done.stderr


def test_submit_to_a_remote_cluster_refuses_local_paths_before_contacting_it(tmp_path):
    spec = write_job(tmp_path / "job", rows=4)
    done = _cli(tmp_path, "submit", str(spec), "--address", "http://ray-head.invalid:8265", "--run-id", "n1")
    assert done.returncode == 2, done.stderr
    assert "is a remote cluster and cannot read local paths: input.uri (" in done.stderr
    assert "output.uri (" in done.stderr and "model.source (" in done.stderr
    assert not (tmp_path / "job" / "out").exists()  # nothing recorded
    gcs = _cli(tmp_path, "submit", str(spec), "--address", "127.0.0.1:6379")
    assert gcs.returncode == 2 and "give its URL as http://HOST:PORT" in gcs.stderr


def test_every_command_takes_json():
    import argparse

    from jobs.cli.main import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    missing = []
    for name, parser in commands.items():
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        for sub, command in actions[0].choices.items() if actions else [(None, parser)]:
            if "--json" not in [flag for action in command._actions for flag in action.option_strings]:
                missing.append(f"{name} {sub or ''}".strip())
    assert missing == []
