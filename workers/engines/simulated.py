"""A simulated engine for scale work: deterministic text at a fixed rate per replica, no weights.

It loads only the model's tokenizer (so prompt token counts, `prompt_too_long` rows and cost
estimates are the real model's) and "generates" `tokens_per_row` words per row, taking
`batch_latency_s + rows x tokens_per_row / tokens_per_second` seconds per batch, one batch at a
time: a replica's throughput is `tokens_per_second`, however many batches Ray Data hands it.
It declares whatever GPUs the spec gives a replica (logical GPUs on a one-machine cluster).
Settings come from `model.engine_args`; the defaults are fixed here (benchmarks do not tune them):

    tokens_per_second  200      generated tokens per second per replica
    tokens_per_row     sampling.max_tokens
    batch_latency_s    0.05     fixed cost per batch (a scheduling step)
"""

from __future__ import annotations

import hashlib
import threading
import time

from schemas.spec import EngineName
from workers.engines.base import EngineConfig, Request, Result, chat_token_ids, load_tokenizer, package_version

DEFAULTS = {"tokens_per_second": 200.0, "batch_latency_s": 0.05}
KNOWN = {"tokens_per_second", "tokens_per_row", "batch_latency_s", "tensor_parallel_size"}
WORDS = (
    "night",
    "report",
    "market",
    "storm",
    "council",
    "comet",
    "rail",
    "museum",
    "port",
    "harbour",
    "river",
    "summit",
    "budget",
    "season",
    "archive",
    "signal",
)


def check_one_node_group(ranks: int) -> None:
    """What vLLM's Ray executor needs of a tensor-parallel replica: to run inside a placement group
    of `ranks` GPU bundles, all on one node. Raises if the replica was placed otherwise."""
    import ray
    from ray.util import get_current_placement_group, placement_group_table

    group = get_current_placement_group() if ray.is_initialized() else None
    if group is None:
        raise RuntimeError(f"tensor_parallel_size {ranks}: the replica is not in a placement group")
    table = placement_group_table(group)
    gpus = sum(bundle.get("GPU", 0) for bundle in table["bundles"].values())
    nodes = set(table["bundles_to_node_id"].values())
    if gpus != ranks or len(nodes) != 1 or table["strategy"] != "STRICT_PACK":
        raise RuntimeError(
            f"tensor_parallel_size {ranks}: placement group has {gpus:g} GPUs on {len(nodes)} "
            f"node(s), strategy {table['strategy']}"
        )


class SimulatedEngine:
    """Deterministic words at a configured rate; never the only proof of a real engine's feature."""

    name = EngineName.SIMULATED
    concurrent = False  # one batch at a time: the rate is the replica's, not the batch's

    def __init__(self, config: EngineConfig):
        unknown = sorted(set(config.engine_args) - KNOWN)
        if unknown:
            raise ValueError(f"simulated engine: unknown engine_args {unknown} (known: {sorted(KNOWN)})")
        args = {**DEFAULTS, **config.engine_args}
        self.config = config
        self.tokens_per_second = float(args["tokens_per_second"])
        self.tokens_per_row = int(args.get("tokens_per_row") or config.sampling.max_tokens)
        self.batch_latency_s = float(args["batch_latency_s"])
        if self.tokens_per_second <= 0 or self.tokens_per_row < 1 or self.batch_latency_s < 0:
            raise ValueError("simulated engine: tokens_per_second > 0, tokens_per_row >= 1, batch_latency_s >= 0")
        self._tokenizer = None
        self._lock = threading.Lock()

    @classmethod
    def version(cls) -> str:
        """pressroom itself: the engine is its own code."""
        return package_version("pressroom")

    def load(self) -> None:
        self._tokenizer = load_tokenizer(self.config.model_path)
        ranks = int(self.config.engine_args.get("tensor_parallel_size", 1))
        if ranks > 1:
            check_one_node_group(ranks)

    def generate(self, requests: list[Request]) -> list[Result]:
        samples = self.config.sampling.n
        results: list[Result] = []
        generated = 0
        for request in requests:
            tokens = len(chat_token_ids(self._tokenizer, request))
            if self.config.max_model_len and tokens >= self.config.max_model_len:
                results += [Result.too_long(tokens, context=self.config.max_model_len)] * samples
                continue
            for sample in range(samples):
                results.append(Result(self._text(request, sample), "length", tokens, self.tokens_per_row))
                generated += self.tokens_per_row
        with self._lock:  # the replica's rate holds however many threads call it
            time.sleep(self.batch_latency_s + generated / self.tokens_per_second)
        return results

    def _text(self, request: Request, sample: int) -> str:
        asked = (
            f"{request.system}\0{request.prompt}"  # one turn, as before conversations
            if len(request.messages) <= 2
            else "\0".join(f"{m.role}:{m.content}" for m in request.messages)
        )
        digest = hashlib.sha256(f"{asked}\0{request.adapter}\0{sample}".encode()).digest()
        return " ".join(WORDS[digest[i % len(digest)] % len(WORDS)] for i in range(self.tokens_per_row))

    def close(self) -> None:
        self._tokenizer = None
