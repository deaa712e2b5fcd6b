"""The engine loop's own rules, on a stand-in for `vllm.LLM` (the real engine is exercised in
test_vllm_engine.py and through every vLLM job test): results reach the right batch, base and
LoRA groups never share the engine, a rejected prompt or a failed step never leaves a caller
waiting."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest

from workers.engines.vllm_loop import EngineLoop


class StandInLLM:
    """Finishes one request per step, oldest first; records which groups ran together."""

    def __init__(self, *, reject: str | None = None, fail_step_on: str | None = None):
        self._ids = itertools.count()
        self.running: list[tuple[str, str]] = []  # (outer id, prompt)
        self.together: list[set[str]] = []  # prompts' group tags present at each step
        self.aborted: list[str] = []
        self.reject, self.fail_step_on = reject, fail_step_on
        self.llm_engine = SimpleNamespace(step=self._step, abort_request=self._abort)

    def enqueue(self, prompts, params, *, lora_request=None, use_tqdm=False):
        if any(p == self.reject for p in prompts):
            raise ValueError(f"prompt {self.reject!r} rejected")
        ids = []
        for prompt in prompts:
            outer = str(next(self._ids))
            self.running.append((outer, prompt))
            ids.append(f"{outer}-abcdefgh")
        return ids

    def _step(self):
        self.together.append({prompt.split(":")[0] for _, prompt in self.running})
        outer, prompt = self.running.pop(0)
        if prompt == self.fail_step_on:
            raise RuntimeError("engine step failed")
        return [SimpleNamespace(request_id=outer, finished=True, text=prompt.upper())]

    def _abort(self, ids, internal=False):
        self.aborted += ids
        self.running.clear()


def texts(future):
    return [x.text if not isinstance(x, Exception) else type(x).__name__ for x in future.result(timeout=10)]


def test_results_reach_their_batch_in_order_and_groups_never_mix():
    llm = StandInLLM()
    loop = EngineLoop(lambda: llm)
    try:
        base = loop.submit(["base:a", "base:b"], [None, None], params=None, group="base")
        tuned = loop.submit(["lora:c"], ["adapter"], params=None, group="adapters")
        more_base = loop.submit(["base:d"], [None], params=None, group="base")
        assert texts(base) == ["BASE:A", "BASE:B"]
        assert texts(tuned) == ["LORA:C"]
        assert texts(more_base) == ["BASE:D"]
    finally:
        loop.close()
    assert all(len(groups) == 1 for groups in llm.together)


def test_a_rejected_prompt_is_returned_as_its_exception_and_the_rest_generate():
    loop = EngineLoop(lambda: StandInLLM(reject="bad"))
    try:
        assert texts(loop.submit(["x", "bad", "y"], [None] * 3, params=None, group="base")) == ["X", "ValueError", "Y"]
    finally:
        loop.close()


def test_a_failed_step_fails_the_batches_in_flight_and_the_loop_goes_on():
    llm = StandInLLM(fail_step_on="boom")
    loop = EngineLoop(lambda: llm)
    try:
        broken = loop.submit(["ok", "boom"], [None, None], params=None, group="base")
        with pytest.raises(RuntimeError, match="engine step failed"):
            broken.result(timeout=10)
        assert llm.aborted == ["1-abcdefgh"]
        assert texts(loop.submit(["after"], [None], params=None, group="base")) == ["AFTER"]
    finally:
        loop.close()


def test_closing_fails_waiting_batches_instead_of_hanging():
    loop = EngineLoop(StandInLLM)
    loop.close()
    with pytest.raises(RuntimeError, match="closed"):
        loop.submit(["x"], [None], params=None, group="base")


def test_a_failed_build_raises_in_the_caller():
    def build():
        raise OSError("no weights here")

    with pytest.raises(OSError, match="no weights here"):
        EngineLoop(build)
