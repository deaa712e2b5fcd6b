"""A gated, recording hf engine for the fault and reuse tests, installed in every Ray worker of a test's driver.

The driver's environment names `RAY_RUNTIME_ENV_HOOK=tests.fault_engine.runtime_env_hook`
(Ray's own hook for amending a job's runtime_env), which adds a worker setup hook that points
the "hf" registry entry at `GatedHfEngine`. The first engine to reach the gated stage (`load`
or `generate`, from `PRESSROOM_TEST_GATE_STAGE`) records its pid and stage in
`$PRESSROOM_TEST_GATE/claimed` and waits there to be killed; every later engine passes. With
`PRESSROOM_TEST_GATE_AFTER=N` the generate gate lets that engine's first N batches through, and
`PRESSROOM_TEST_SLOW_GENERATE_S` makes every batch take at least that long. With
`PRESSROOM_TEST_RECORD_PROMPTS=DIR` every engine appends each prompt it is asked to generate
to `DIR/prompts-<pid>.jsonl` (which rows reached an engine, for the reuse tests).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from workers.engines.hf_engine import HfEngine

GATE_ENV = "PRESSROOM_TEST_GATE"
STAGE_ENV = "PRESSROOM_TEST_GATE_STAGE"
AFTER_ENV = "PRESSROOM_TEST_GATE_AFTER"
SLOW_ENV = "PRESSROOM_TEST_SLOW_GENERATE_S"
RECORD_ENV = "PRESSROOM_TEST_RECORD_PROMPTS"
_calls = {"generate": 0}


def runtime_env_hook(runtime_env: dict | None) -> dict:
    """Ray's RAY_RUNTIME_ENV_HOOK: the job's runtime_env plus our worker setup hook."""
    return {**(runtime_env or {}), "worker_process_setup_hook": "tests.fault_engine.install"}


def install() -> None:
    """Worker setup hook: "hf" builds a GatedHfEngine in this process."""
    from workers.engines import base

    base.ENGINES["hf"] = f"{__name__}:GatedHfEngine"


def _gate(stage: str, **facts) -> None:
    """Block forever if this is the first engine at the gated stage (the test kills it here)."""
    if os.environ.get(STAGE_ENV) != stage:
        return
    if stage == "generate":
        _calls["generate"] += 1
        if _calls["generate"] <= int(os.environ.get(AFTER_ENV) or 0):
            return
    try:
        fd = os.open(Path(os.environ[GATE_ENV]) / "claimed", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return  # a replacement: pass
    os.write(fd, json.dumps({"pid": os.getpid(), "stage": stage, **facts}).encode())
    os.close(fd)
    while True:
        time.sleep(0.1)


class GatedHfEngine(HfEngine):
    """The hf engine, held at its load or its first batch until the test kills its actor."""

    def load(self) -> None:
        _gate("load")
        super().load()

    def generate(self, requests):
        _gate("generate", rows=len(requests))
        time.sleep(float(os.environ.get(SLOW_ENV) or 0))
        if os.environ.get(RECORD_ENV):
            with open(Path(os.environ[RECORD_ENV]) / f"prompts-{os.getpid()}.jsonl", "a") as log:
                log.writelines(json.dumps(r.prompt) + "\n" for r in requests)
        return super().generate(requests)
