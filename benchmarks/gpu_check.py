"""A GPU check for the day a GPU machine is lent (issue 37): pressroom's hf engine on CUDA against the CPU.

    python benchmarks/gpu_check.py --bundle build/gpu-wheels   # here (a registry): the wheels such a machine lacks
    python benchmarks/gpu_check.py --wheels build/gpu-wheels   # there (no registry): install those, then check
    python benchmarks/gpu_check.py                             # the check alone; the suite runs it on the CPU

Needs torch, transformers, peft and pyarrow, and pressroom's pydantic (the bundle carries it): no
vLLM, no Ray, no hub. Builds the suite's tiny Llama (2 layers, a byte-level BPE tokenizer trained on
the spot) and a random LoRA adapter, then runs the hf engine's own path (`HfEngine.load` and
`generate`: chat template, left padding, sub-batches, the adapter switched per sub-batch) on 12
greedy requests of 24 tokens (6 prompts, each on the base model and on the adapter): on the CPU in
float32 twice (the reference must repeat exactly), then on CUDA in float32 and in the engine's
CUDA default, bfloat16. The log-probabilities each generate step saw are compared with the CPU's
while both have chosen the same tokens: float32 must agree within TOLERANCE. A random model's
near-ties can flip an argmax, so where the tokens part, the CPU must have preferred its token by at
most TIE (a near-tie), else it is a mismatch. bfloat16 is reported, not judged. With no CUDA device
the device part is skipped and said so. The last line is `gpu_check=<json>`; exit 0 pass, 1 fail,
2 error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import gpu_wheels

TOLERANCE = 1e-3  # |log-prob| difference, float32 CPU vs CUDA: summation order only
TIE = 2 * TOLERANCE  # a divergence is a near-tie if the CPU preferred its token by at most this
MAX_TOKENS = 24
PROMPTS = 6
ADAPTER = "a"


@dataclass(frozen=True)
class EngineRun:
    """One engine's results, and per generate call (sub-batch) its sequences and step log-probs."""

    device: str
    dtype: str
    results: list
    steps: list  # [(sequences [rows, width + steps], log-probs [rows, steps, vocab])], float32 on the CPU
    seconds: float


@dataclass(frozen=True)
class Agreement:
    """How a run's step log-probs compare with the reference's, while both chose the same tokens."""

    max_abs_diff: float
    steps_compared: int
    rows_identical: int
    near_ties: int
    mismatches: int

    def passed(self, tolerance: float) -> bool:
        return self.max_abs_diff <= tolerance and self.mismatches == 0

    def as_dict(self) -> dict:
        return {
            "max_abs_diff": self.max_abs_diff,
            "steps_compared": self.steps_compared,
            "rows_identical": self.rows_identical,
            "near_ties": self.near_ties,
            "mismatches": self.mismatches,
        }


def build_models(folder: Path) -> tuple[Path, Path]:
    """The suite's tiny Llama and a random LoRA adapter on it, built here (no downloads)."""
    from tests.tiny_models import build_random_lora_adapter, build_tiny_llama

    model = build_tiny_llama(folder / "tiny-llama")
    return model, build_random_lora_adapter(model, folder / "lora", seed=1)


def requests() -> list:
    """6 prompts of different lengths (some with a system prompt), on the base model, then on the adapter."""
    from tests.tiny_models import corpus_lines
    from workers.engines import Request

    base = [
        Request.from_prompt(
            system="Answer in one line." if i % 2 else None, prompt=" ".join(corpus_lines(seed=i, count=1 + i % 3))
        )
        for i in range(PROMPTS)
    ]
    return base + [Request.from_prompt(system=r.system, prompt=r.prompt, adapter=ADAPTER) for r in base]


def record_steps(engine) -> list:
    """Make the loaded engine's model keep the log-probs of every generate step it takes."""
    import torch

    steps: list = []
    generate = engine._model.generate  # the engine returns text; the check needs what its generate saw

    def recording(**kwargs):
        out = generate(**kwargs, output_logits=True, return_dict_in_generate=True)
        logits = torch.stack(out.logits, dim=1).float()
        steps.append((out.sequences.cpu(), torch.log_softmax(logits, dim=-1).cpu()))
        return out.sequences

    engine._model.generate = recording
    return steps


def run_engine(model: Path, adapter: Path, *, device: str, dtype: str) -> EngineRun:
    """Load the hf engine on `device`, generate the requests once, close it."""
    import torch

    from workers.engines import EngineConfig
    from workers.engines.hf_engine import HfEngine

    config = EngineConfig(
        model_path=str(model),
        model_name="tiny",
        adapters={ADAPTER: str(adapter)},
        dtype=dtype,
        sampling={"temperature": 0.0, "max_tokens": MAX_TOKENS, "ignore_eos": True},
        gpus=1 if device == "cuda" else 0,
    )
    engine = HfEngine(config)
    engine.load()
    if engine._device != device:
        raise RuntimeError(f"the hf engine loaded on {engine._device}, not {device}")
    steps = record_steps(engine)
    started = time.perf_counter()
    results = engine.generate(requests())
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    engine.close()
    return EngineRun(device, dtype, results, steps, seconds)


def agreement(reference: EngineRun, other: EngineRun) -> Agreement:
    """Compare step log-probs row by row up to and including the first step whose tokens differ."""
    worst, compared, identical, ties, mismatches = 0.0, 0, 0, 0, 0
    for (ref_seq, ref_lp), (seq, lp) in zip(reference.steps, other.steps, strict=True):
        if ref_seq.shape != seq.shape:
            raise RuntimeError(f"sub-batches differ in shape: {tuple(ref_seq.shape)} vs {tuple(seq.shape)}")
        width = ref_seq.shape[1] - ref_lp.shape[1]
        for row in range(ref_seq.shape[0]):
            ours, theirs = ref_seq[row, width:], seq[row, width:]
            parted = (ours != theirs).nonzero()
            first = int(parted[0]) if len(parted) else len(ours)
            seen = min(first + 1, len(ours))  # step `first` still saw the same prefix on both
            worst = max(worst, float((ref_lp[row, :seen] - lp[row, :seen]).abs().max()))
            compared += seen
            if first == len(ours):
                identical += 1
            elif float(ref_lp[row, first, ours[first]] - ref_lp[row, first, theirs[first]]) <= TIE:
                ties += 1
            else:
                mismatches += 1
    return Agreement(worst, compared, identical, ties, mismatches)


def run_summary(run: EngineRun) -> dict:
    tokens = [r.num_output_tokens for r in run.results]
    return {
        "dtype": run.dtype,
        "rows": len(tokens),
        "tokens": sum(tokens),
        "seconds": round(run.seconds, 3),
        "tokens_per_row": sorted(set(tokens)),
        "errors": sum(1 for r in run.results if r.error_code),
    }


def versions() -> dict:
    import pyarrow
    import torch
    import transformers

    try:
        import peft

        peft_version = peft.__version__
    except ImportError:
        peft_version = None
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "transformers": transformers.__version__,
        "peft": peft_version,
        "pyarrow": pyarrow.__version__,
    }


def cuda_part(model: Path, adapter: Path, reference: EngineRun, summary: dict) -> bool:
    """Float32 (judged) and bfloat16 (reported) on CUDA against the CPU reference; True if float32 passed."""
    import torch

    summary["device_name"] = torch.cuda.get_device_name(0)
    # TF32 would make float32 matmuls differ from the CPU's by ~1e-3: say which precision ran.
    tf32 = "on" if torch.backends.cuda.matmul.allow_tf32 else "off"
    summary["fp32_matmul"] = f"{torch.get_float32_matmul_precision()}, TF32 {tf32}"
    print(
        f"cuda: {summary['device_name']} (torch CUDA {torch.version.cuda}; float32 matmuls: {summary['fp32_matmul']})",
        flush=True,
    )
    passed = True
    for dtype, judged in (("float32", True), ("bfloat16", False)):
        run = run_engine(model, adapter, device="cuda", dtype=dtype)
        agree = agreement(reference, run)
        summary[f"cuda_{dtype}"] = {**run_summary(run), **agree.as_dict()}
        verdict = ("pass" if agree.passed(TOLERANCE) else "FAIL") if judged else "reported, not judged"
        passed &= agree.passed(TOLERANCE) or not judged
        print(
            f"cuda {dtype}: {len(run.results)} requests x {MAX_TOKENS} tokens in {run.seconds:.2f} s; "
            f"max |d log-prob| vs CPU float32 {agree.max_abs_diff:.2e} over {agree.steps_compared} steps "
            f"(tolerance {TOLERANCE:g}); rows identical {agree.rows_identical}/{len(run.results)}, "
            f"parted at a near-tie {agree.near_ties}, mismatched {agree.mismatches}: {verdict}",
            flush=True,
        )
    return passed


def check(*, cpu_only: bool, summary: dict) -> bool:
    """The CPU reference, then the device part when there is one; True if everything judged passed."""
    import torch

    summary.update(versions())
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()), flush=True)
    with tempfile.TemporaryDirectory(prefix="pressroom-gpu-check-") as folder:
        started = time.perf_counter()
        model, adapter = build_models(Path(folder))
        print(
            f"model: tiny Llama (2 layers, hidden 256) and a random LoRA adapter, built in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        reference = run_engine(model, adapter, device="cpu", dtype="float32")
        again = agreement(reference, run_engine(model, adapter, device="cpu", dtype="float32"))
        texts = [r.text for r in reference.results]
        summary["cpu"] = {
            **run_summary(reference),
            "repeat_max_abs_diff": again.max_abs_diff,
            "adapter_changed_rows": sum(a != b for a, b in zip(texts[:PROMPTS], texts[PROMPTS:], strict=True)),
        }
        ok = again.passed(0.0) and summary["cpu"]["errors"] == 0
        print(
            f"cpu float32: {len(reference.results)} requests x {MAX_TOKENS} tokens in {reference.seconds:.2f} s; "
            f"a second run's max |d log-prob| {again.max_abs_diff:.2e}; the adapter changed "
            f"{summary['cpu']['adapter_changed_rows']} of {PROMPTS} prompts' outputs",
            flush=True,
        )
        if cpu_only or not torch.cuda.is_available():
            summary["device"] = "skipped"
            print(
                "cuda: no CUDA device" + (" asked for" if cpu_only else "") + ": the device part was skipped",
                flush=True,
            )
        else:
            summary["device"] = "cuda"
            ok &= cuda_part(model, adapter, reference, summary)
    summary["training"] = "absent"
    print("training steps: none in this checkout yet (the fine-tune issue's steps join this check once they exist)")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, help="download the wheels a GPU machine lacks into this folder; exit")
    parser.add_argument("--wheels", type=Path, help="first install what this interpreter lacks from this bundle")
    parser.add_argument("--cpu-only", action="store_true", help="skip the device part even where CUDA is present")
    args = parser.parse_args()
    if args.bundle:
        record = gpu_wheels.bundle(args.bundle)
        print(
            f"bundle: {len(record['files'])} wheels, {record['bytes'] / 2**20:.1f} MiB in {args.bundle} "
            f"(missing on such a machine: {', '.join(record['missing'])}; for Python {', '.join(record['pythons'])})"
        )
        return 0
    for name, value in (
        ("HF_HUB_OFFLINE", "1"),
        ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
        ("TRANSFORMERS_VERBOSITY", "error"),
        ("TOKENIZERS_PARALLELISM", "false"),
    ):
        os.environ.setdefault(name, value)  # no hub on such a machine, and no progress bars in the report
    started = time.perf_counter()
    summary: dict = {"tolerance": TOLERANCE, "tie": TIE}
    try:
        summary["wheels_installed"] = gpu_wheels.install(args.wheels) if args.wheels else []
        if args.wheels:
            print(f"wheels: installed {', '.join(summary['wheels_installed']) or 'nothing (all present)'}")
        ok = check(cpu_only=args.cpu_only, summary=summary)
        summary["result"] = "pass" if ok else "fail"
    except ImportError as exc:  # pressroom's own imports need the bundle where pydantic is absent
        summary["result"] = "error"
        summary["error"] = f"{type(exc).__name__}: {exc}; bundle what is missing with --bundle, pass it with --wheels"
        print(summary["error"])
    summary["seconds"] = round(time.perf_counter() - started, 1)
    print("gpu_check=" + json.dumps(summary, sort_keys=True))
    return {"pass": 0, "fail": 1}.get(summary["result"], 2)


if __name__ == "__main__":
    sys.exit(main())
