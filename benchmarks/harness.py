"""What both benchmark scripts share: fresh child processes, Ray start-up, RSS sampling.

Every measured side runs in its own child process (its own session), so no side shares memory,
imported libraries or a warm engine with another; the parent reaps the child's process group.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Library chatter off in every child; the engines' own settings stay as pressroom sets them.
QUIET_ENV = {
    "HF_HUB_OFFLINE": "1",
    "VLLM_LOGGING_LEVEL": "ERROR",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONWARNINGS": "ignore",
    "RAY_DEDUP_LOGS": "0",
}


class ChildFailed(RuntimeError):
    """A measured side exited non-zero, timed out, or wrote no result."""


def run_child(script: Path, *, side: str, job: dict, workdir: Path, timeout: float, env: dict[str, str]) -> dict:
    """Run `script --child SIDE --job FILE` in a fresh process group; return its result JSON.

    `job["spawned_at"]` is set just before the process starts, so a child can report its
    end-to-end time from spawn (interpreter start and imports included).
    """
    job_file = workdir / f"job-{side}.json"
    result_file = workdir / f"result-{side}.json"
    log_file = workdir / f"log-{side}.txt"
    result_file.unlink(missing_ok=True)
    job = {**job, "result_file": str(result_file), "spawned_at": time.time()}
    job_file.write_text(json.dumps(job))
    child_env = {**os.environ, **QUIET_ENV, **env}
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")] if p)
    with log_file.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, str(script), "--child", side, "--job", str(job_file)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env,
            cwd=PROJECT_ROOT,
            start_new_session=True,
        )
        try:
            code = _wait_tracking(process, timeout=timeout)
        finally:
            _reap(process)
    if code != 0 or not result_file.exists():
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-25:])
        reason = "timed out" if code is None else f"exited {code}"
        raise ChildFailed(f"side {side!r} {reason}; last log lines ({log_file}):\n{tail}")
    return json.loads(result_file.read_text())


# Ray workers start their own sessions, so the child's process group does not hold them all:
# remember every descendant seen while the child runs, and end exactly those afterwards.
_descendants: dict[int, set] = {}


def _wait_tracking(process: subprocess.Popen, *, timeout: float) -> int | None:
    """Wait for the child (None on timeout), noting its descendants once a second."""
    import psutil

    seen = _descendants.setdefault(process.pid, set())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = process.poll()
        if code is not None:
            return code
        with contextlib.suppress(psutil.Error):
            seen.update(psutil.Process(process.pid).children(recursive=True))
        time.sleep(1.0)
    return None


def _reap(process: subprocess.Popen) -> None:
    """End the child and every descendant it had that is still alive (same pid, same start)."""
    import psutil

    leftovers = [p for p in _descendants.pop(process.pid, set()) if p.is_running()]
    if process.poll() is None:
        leftovers.append(psutil.Process(process.pid))
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(leftovers, timeout=5)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    process.wait()


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so a killed benchmark still reaps its children."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def load_job(path: str) -> dict:
    """The job a parent handed to this child."""
    return json.loads(Path(path).read_text())


def write_result(job: dict, result: dict) -> None:
    """Write the child's result where the parent looks for it (atomically)."""
    target = Path(job["result_file"])
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2))
    tmp.replace(target)


def start_ray(*, setup_hook: str | None = None, env: dict[str, str] | None = None, **init_args) -> float:
    """`ray.init` as `jobs.run.init_ray` does it (quiet, project on PYTHONPATH), plus a
    worker setup hook; returns the seconds it took. A job that finds Ray up leaves it up, so
    the job's own `ray_start` timing is then ~0 and this figure stands in for it."""
    import ray
    import ray.data

    runtime_env: dict = {"env_vars": {**QUIET_ENV, **(env or {})}}
    runtime_env["env_vars"]["PYTHONPATH"] = os.pathsep.join(
        p for p in [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")] if p
    )
    if setup_hook:
        runtime_env["worker_process_setup_hook"] = setup_hook
    began = time.time()
    init_args.setdefault("address", "local")  # never a head someone else left running
    ray.init(
        runtime_env=runtime_env, log_to_driver=False, logging_level=logging.ERROR, include_dashboard=False, **init_args
    )
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    return time.time() - began


@dataclass
class ProcessPeak:
    """What the sampler saw of one process: peak RSS, peak private memory, CPU seconds so far."""

    title: str = ""
    rss: int = 0
    private: int = 0  # RSS less shared pages (Ray's object store is shared memory)
    cpu: float = 0.0


class RssSampler:
    """Samples this process and all its descendants (Ray's raylet, workers, actors) every
    `interval` seconds on a thread: each process's peak RSS, peak private memory and CPU time,
    and the peak of the summed RSS."""

    def __init__(self, *, interval: float = 0.25):
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peaks: dict[int, ProcessPeak] = {}
        self.peak_total = 0

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    memory = process.memory_info()
                    times = process.cpu_times()
                    title = _title(process)
                except psutil.Error:
                    continue
                total += memory.rss
                peak = self.peaks.setdefault(process.pid, ProcessPeak())
                # A Ray worker starts as a setup or IDLE process and is renamed once it runs a task.
                if (title.startswith("ray::") and title != "ray::IDLE") or not peak.title:
                    peak.title = title
                peak.rss = max(peak.rss, memory.rss)
                peak.private = max(peak.private, memory.rss - memory.shared)
                peak.cpu = times.user + times.system
            self.peak_total = max(self.peak_total, total)
            self._stop.wait(self._interval)

    def by_role(self) -> dict[str, dict[str, float]]:
        """Per role: the largest single process's peak RSS and private memory (MiB), the CPU
        seconds of all its processes, and how many processes were seen."""
        roles: dict[str, list[ProcessPeak]] = {}
        for pid, peak in self.peaks.items():
            roles.setdefault(_role(pid, peak.title), []).append(peak)
        summary = {
            role: {
                "max_mib": max(p.rss for p in peaks) / 2**20,
                "private_mib": max(p.private for p in peaks) / 2**20,
                "cpu_s": sum(p.cpu for p in peaks),
                "processes": len(peaks),
            }
            for role, peaks in sorted(roles.items())
        }
        summary["all (peak of sum)"] = {
            "max_mib": self.peak_total / 2**20,
            "private_mib": float("nan"),
            "cpu_s": sum(p.cpu for p in self.peaks.values()),
            "processes": len(self.peaks),
        }
        return summary


def _title(process) -> str:
    try:
        return " ".join(process.cmdline())[:120] or process.name()
    except Exception:
        return process.name()


def _role(pid: int, title: str) -> str:
    if pid == os.getpid():
        return "driver"
    if "MapWorker" in title or "Actor(" in title or "BareEngine" in title:
        return "actors"
    system = (
        "raylet",
        "gcs_server",
        "dashboard",
        "Agent",
        "log_monitor",
        "monitor.py",
        "ray::_",
        "ActorLocationTracker",
    )
    if title.startswith("ray::") and not any(name in title for name in system):
        return "task workers"
    if any(name in title for name in system):
        return "ray system"
    return "other (setup/idle workers)"


def peak_rss_mib() -> float:
    """This process's peak RSS so far (Linux reports ru_maxrss in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@contextlib.contextmanager
def working_directory(path: Path | None, *, prefix: str) -> Iterator[Path]:
    """`path` (created, kept afterwards), or a temporary directory removed afterwards."""
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        yield Path(folder)


def child_main(handlers: dict[str, Callable[[dict], dict]], argv: list[str]) -> bool:
    """If argv is `--child SIDE --job FILE`, run that side and write its result; True if it did."""
    if len(argv) != 4 or argv[0] != "--child" or argv[2] != "--job":
        return False
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    job = load_job(argv[3])
    write_result(job, handlers[argv[1]](job))
    return True
