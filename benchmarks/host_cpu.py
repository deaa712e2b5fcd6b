"""Where this host's CPU went during a stretch of a benchmark run: how busy the whole machine was,
and CPU seconds by kind of process (the pressroom driver, each Ray actor or task name, Ray's
daemons, this benchmark, everything else on the machine).

A thread samples the kernel's machine-wide CPU counters and every process's CPU times; a stretch
[start, end] (wall-clock seconds) is read between the first and the last sample inside it. A
process counts from its value at the first sample (zero if it started later) to its last sample
in the stretch, so one that exits loses at most a sampling interval. A Ray worker is named by its
latest process title (`ray::MapWorker`, `ray::IDLE`, ...).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Self

import psutil

INTERVAL_S = 1.0


@dataclass(frozen=True)
class Sample:
    """One look at the machine: wall time, busy CPU seconds of all cores, and pid -> (kind, CPU s)."""

    at: float
    busy: float
    processes: dict[int, tuple[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class CpuUse:
    """A stretch's CPU: cores busy on average, and cores' worth per process kind, largest first."""

    seconds: float
    cores: int
    busy_cores: float
    by_kind: list[tuple[str, float]]

    def line(self, *, top: int = 6) -> str:
        """`1.93 of 2 cores busy: ray::MapWorker 0.81, raylet 0.40, ...` (the rest summed)."""
        shown = self.by_kind[:top]
        rest = sum(cores for _, cores in self.by_kind[top:])
        parts = [f"{kind} {cores:.2f}" for kind, cores in shown] + ([f"the rest {rest:.2f}"] if rest >= 0.005 else [])
        return f"{self.busy_cores:.2f} of {self.cores} cores busy over {self.seconds:.0f} s: " + ", ".join(parts)


def process_kind(command: list[str], name: str, *, own_pid: int, pid: int) -> str:
    """A short name for what a process is, for grouping its CPU time."""
    if pid == own_pid:
        return "this benchmark"
    head = command[0] if command else name
    if head.startswith("ray::"):  # Ray sets worker titles: ray::MapWorker(MapBatches(...)), ray::IDLE
        return head.split("(")[0].split(".")[0].split()[0]
    text = " ".join(command)
    if "jobs.cli" in text or "bin/pressroom" in text:
        return "pressroom driver"
    if name in {"raylet", "gcs_server"}:
        return name
    if "/ray/" in text or name.startswith("ray"):
        return "ray daemons (agents, monitors)"
    return "other processes"


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent on anything but idling or waiting for I/O, since boot."""
    times = psutil.cpu_times()
    return sum(getattr(times, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq"))


def take_sample(own_pid: int) -> Sample:
    processes = {}
    for process in psutil.process_iter(["pid", "name", "cmdline", "cpu_times"]):
        info = process.info
        if info["cpu_times"] is None:  # gone, or not ours to read
            continue
        kind = process_kind(info["cmdline"] or [], info["name"] or "", own_pid=own_pid, pid=info["pid"])
        processes[info["pid"]] = (kind, info["cpu_times"].user + info["cpu_times"].system)
    return Sample(time.time(), machine_busy_seconds(), processes)


class CpuSampler:
    """Samples in a thread from `with` entry to exit; `use(start, end)` reads a stretch afterwards."""

    def __init__(self, *, interval_s: float = INTERVAL_S):
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="cpu-sampler", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        own = os.getpid()
        while True:
            self.samples.append(take_sample(own))
            if self._stop.wait(self.interval_s):
                self.samples.append(take_sample(own))
                return

    def use(self, *, start: float, end: float) -> CpuUse | None:
        """The CPU spent between wall times `start` and `end`; None if fewer than two samples fall inside."""
        inside = [s for s in self.samples if start <= s.at <= end]
        if len(inside) < 2:
            return None
        first, last = inside[0], inside[-1]
        seconds = last.at - first.at
        latest: dict[int, tuple[str, float]] = {}
        for sample in inside:
            latest.update(sample.processes)
        kinds: dict[str, float] = {}
        for pid, (kind, cpu) in latest.items():
            spent = cpu - first.processes.get(pid, (kind, 0.0))[1]
            kinds[kind] = kinds.get(kind, 0.0) + max(spent, 0.0) / seconds
        ranked = sorted(((k, v) for k, v in kinds.items() if v >= 0.005), key=lambda kv: -kv[1])
        return CpuUse(seconds, psutil.cpu_count() or 1, (last.busy - first.busy) / seconds, ranked)
