"""Run a small job N times on a busy machine and count the failures.

    .venv/bin/python benchmarks/busy_machine.py [--runs 10] [--hogs 2] [--checkout DIR]

Busy as the suite found it when four tests failed: CPU hogs on every core, and a second Ray
head that someone else started with `ray start` (its own ports; the default temp dir, so a plain
`ray.init()` finds it) and restarts every `--restart-every` seconds. Each run is a fresh
`pressroom run` (`python -m jobs.cli` from `--checkout`, default this checkout, so an older
commit can be measured the same way) of a 48-row summary job on the default model with vLLM.
The last stdout line is `runs=N failures=F`. Stops exactly what it started (process groups).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FOREIGN_PORT = 26379  # outside Ray's worker-port range (10002-19999)


def _spawn(args: list[str], *, env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    full = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # nobody told the job to join a cluster
    with open(log, "ab") if log else contextlib.nullcontext(subprocess.DEVNULL) as out:
        return subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env={**full, **(env or {})}
        )


def _stop(process: subprocess.Popen) -> None:
    """SIGKILL the process group the process leads (never Ray's stop-everything command: other users' Ray lives too)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _foreign_head(workdir: Path) -> subprocess.Popen:
    ray = Path(sys.executable).with_name("ray")
    return _spawn(
        [
            str(ray),
            "start",
            "--head",
            "--block",
            f"--port={FOREIGN_PORT}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
        ],
        env={"RAY_AUTH_MODE": "disabled"},
        log=workdir / "foreign-ray.log",
    )


def _job(workdir: Path) -> Path:
    rows = [
        {"id": f"r{i:03d}", "title": f"Story {i}", "body": f"Report {i}: revenue moved {i % 7} points."}
        for i in range(48)
    ]
    pq.write_table(pa.Table.from_pylist(rows), workdir / "in.parquet")
    spec = {
        "name": "busy",
        "input": {"uri": "in.parquet", "id_column": "id", "columns": ["title"], "rows_per_shard": 8},
        "task": {"kind": "summary", "prompt": "Summarize: {{ title }}. {{ body }}"},
        "model": {
            "engine": "vllm",
            "source": "default",
            "max_model_len": 512,
            "engine_args": {"enforce_eager": True, "gpu_memory_utilization": 0.3},
        },
        "sampling": {"temperature": 0.0, "max_tokens": 16},
        "output": {"uri": "out"},
        "resources": {"batch_size": 8},
    }
    path = workdir / "job.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--hogs", type=int, default=os.cpu_count() or 2, help="busy-looping processes")
    parser.add_argument("--restart-every", type=float, default=30.0, help="seconds between foreign head restarts")
    parser.add_argument("--checkout", type=Path, default=PROJECT_ROOT, help="the pressroom code to run")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per run")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="pressroom-busy-"))
    spec = _job(workdir)
    hogs = [_spawn([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
    head = _foreign_head(workdir)
    restarted = time.monotonic()
    outcomes: Counter[str] = Counter()
    env = {"PYTHONPATH": str(args.checkout), "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    try:
        for number in range(1, args.runs + 1):
            started = time.monotonic()
            run = _spawn(
                [sys.executable, "-m", "jobs.cli", "run", str(spec), "--output-uri", str(workdir / "out"), "--json"],
                env=env,
                log=workdir / f"run-{number}.log",
            )
            while run.poll() is None and time.monotonic() - started < args.timeout:
                if time.monotonic() - restarted > args.restart_every:  # the other user restarts their head
                    _stop(head)
                    head = _foreign_head(workdir)
                    restarted = time.monotonic()
                time.sleep(0.5)
            if run.poll() is None:
                _stop(run)
                outcome = "timeout"
            else:
                _stop(run)  # whatever it left in its group
                outcome = "ok" if run.returncode == 0 else f"exit {run.returncode}"
            error = [
                line
                for line in (workdir / f"run-{number}.log").read_text(errors="replace").splitlines()
                if line.startswith("error:")
            ]
            outcomes[outcome] += 1
            print(
                f"run {number}: {outcome} in {time.monotonic() - started:.1f} s"
                + (f" ({error[-1][:200]})" if error else ""),
                flush=True,
            )
    finally:
        for process in [*hogs, head]:
            _stop(process)
    failures = args.runs - outcomes["ok"]
    print(f"outcomes: {dict(outcomes)}; logs in {workdir}")
    print(f"runs={args.runs} failures={failures}")


if __name__ == "__main__":
    main()
