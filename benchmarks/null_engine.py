"""A zero-cost engine: the pipeline's own ceiling, with generation taking no time at all.

`JobSpec.model.engine` only accepts "vllm" or "hf", and the actors read `workers.engines.ENGINES`
in their own processes, so registering in the driver is not enough. `install` is a Ray
`worker_process_setup_hook` that points the "vllm" name at `NullEngine` in every worker.
"""

from __future__ import annotations

from workers.engines import EngineConfig, Request, Result

# Non-empty: an empty text would become an `empty_output` error row in finalize_text.
TEXT = "ok"


class NullEngine:
    """Loads nothing; answers every request with one fixed token of text."""

    name = "null"
    concurrent = True  # stateless

    def __init__(self, config: EngineConfig):
        self.config = config

    def load(self) -> None:
        """Nothing to load."""

    def version(self) -> str:
        return "null"

    def generate(self, requests: list[Request]) -> list[Result]:
        return [Result(TEXT, "length", 0, 1) for _ in requests]

    def close(self) -> None:
        """Nothing to free."""


def install() -> None:
    """Worker setup hook: the "vllm" registry entry builds a NullEngine in this process."""
    from workers import engines as engine

    engine.ENGINES["vllm"] = f"{__name__}:NullEngine"
