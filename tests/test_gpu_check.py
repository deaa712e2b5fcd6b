"""benchmarks/gpu_check.py on the CPU (its device part skipped, as on every machine without CUDA),
its comparison rule on hand-made log-probs, and the wheel bundle it carries to a GPU machine."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest

from benchmarks import gpu_wheels
from benchmarks.gpu_check import EngineRun, agreement
from tests.benchmark_scripts import run_script


@pytest.mark.slow
def test_gpu_check_runs_the_hf_engine_on_the_cpu_and_skips_the_device():
    lines = run_script("gpu_check.py", "--cpu-only", timeout=300)
    assert lines[-1].startswith("gpu_check=")
    summary = json.loads(lines[-1].removeprefix("gpu_check="))
    assert summary["result"] == "pass" and summary["device"] == "skipped"
    assert "cuda: no CUDA device asked for: the device part was skipped" in lines
    # 6 prompts on the base model and on the adapter, 24 greedy tokens each (EOS ignored).
    cpu = summary["cpu"]
    assert (cpu["rows"], cpu["tokens"], cpu["tokens_per_row"], cpu["errors"]) == (12, 288, [24], 0)
    assert cpu["repeat_max_abs_diff"] == 0.0  # the CPU reference repeats exactly
    assert cpu["adapter_changed_rows"] == 6  # the random LoRA (scale 4) moves every prompt's output
    assert summary["python"] == ".".join(map(str, sys.version_info[:3]))
    assert summary["wheels_installed"] == [] and summary["training"] == "absent"
    assert "cuda_float32" not in summary


def run_of(sequences: list[list[int]], logprobs: list[list[list[float]]]) -> EngineRun:
    import torch

    return EngineRun("cpu", "float32", [], [(torch.tensor(sequences), torch.tensor(logprobs))], 0.0)


def test_agreement_compares_log_probs_until_the_tokens_part_and_tells_near_ties_from_mismatches():
    # One prompt token (9), two generated steps over a 3-token vocabulary.
    reference = run_of(
        [[9, 0, 1], [9, 0, 1], [9, 2, 2]],
        [
            [[-0.5, -1.0, -2.0], [-1.0, -0.2, -3.0]],
            [[-0.5, -1.0, -2.0], [-1.0, -0.2, -3.0]],
            [[-2.0, -1.0, -0.3], [-2.0, -1.0, -0.3]],
        ],
    )
    other = run_of(
        [[9, 0, 1], [9, 0, 0], [9, 1, 2]],
        [
            [[-0.5001, -1.0, -2.0], [-1.0, -0.2, -3.0]],  # same tokens: |d| 1e-4
            [[-0.5, -1.0, -2.0], [-0.2, -0.2005, -3.0]],  # parts at step 1: the CPU preferred 1 by 0.8
            [[-2.0, -0.3, -0.3002], [9.0, 9.0, 9.0]],
        ],
    )  # parts at step 0 by 0.7; step 1 not compared
    agree = agreement(reference, other)
    assert (agree.rows_identical, agree.near_ties, agree.mismatches) == (1, 0, 2)
    assert agree.steps_compared == 2 + 2 + 1
    assert agree.max_abs_diff == pytest.approx(0.8, abs=1e-6)  # the second row, step 1, token 0: -1.0 vs -0.2
    # The same parting where the CPU's preference is within TIE (0.002) is a near-tie.
    close = run_of([[9, 0, 1]], [[[-0.5, -1.0, -2.0], [-1.0, -0.9995, -3.0]]])
    flipped = run_of([[9, 0, 0]], [[[-0.5, -1.0, -2.0], [-0.9996, -0.9997, -3.0]]])
    tie = agreement(close, flipped)
    assert (tie.rows_identical, tie.near_ties, tie.mismatches) == (0, 1, 0)
    assert tie.passed(1e-3) and tie.max_abs_diff == pytest.approx(4e-4, abs=1e-6)  # step 1, token 0: -1.0 vs -0.9996


def test_the_bundle_holds_what_a_gpu_machine_lacks_for_pressrooms_hf_path():
    needed, missing = gpu_wheels.missing_distributions()
    # The hf path imports pydantic (schemas/) and pyarrow, numpy (rows); torch brings jinja2 for chat templates.
    assert missing == {"pydantic", "pydantic-core", "annotated-types", "typing-inspection"}
    assert needed == missing | {"numpy", "pyarrow", "typing-extensions"}


def wheel(folder: Path, name: str, version: str, tag: str = "py3-none-any", module: str | None = None) -> Path:
    """A minimal valid wheel: one module (if given) and its dist-info."""
    path = folder / f"{name}-{version}-{tag}.whl"
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as archive:
        if module:
            archive.writestr(f"{module}.py", "ANSWER = 42\n")
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        archive.writestr(f"{info}/WHEEL", f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n")
        archive.writestr(f"{info}/RECORD", "")
    return path


def test_only_absent_or_older_distributions_are_installed_from_the_bundle(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    from importlib.metadata import version

    installed = version("pydantic")
    wheel(tmp_path, "pydantic", "0.1")  # older than this environment's: kept as it is
    wheel(tmp_path, "pydantic", f"{installed}.post99")  # newer: installed
    wheel(tmp_path, "pydantic_core", "99.0", tag="cp27-cp27m-manylinux1_x86_64")  # not for this interpreter
    absent = wheel(tmp_path, "pressroom_gpu_check_probe", "1.0", module="pressroom_gpu_check_probe")
    chosen = [p.name for p in gpu_wheels.wheels_to_install(tmp_path)]
    assert chosen == [absent.name, f"pydantic-{installed}.post99-py3-none-any.whl"]
    (tmp_path / f"pydantic-{installed}.post99-py3-none-any.whl").unlink()  # not over the suite's own pydantic
    assert gpu_wheels.install(tmp_path) == ["pressroom_gpu_check_probe 1.0"]
    import pressroom_gpu_check_probe

    assert pressroom_gpu_check_probe.ANSWER == 42
    assert Path(pressroom_gpu_check_probe.__file__).parent == Path(sys.path[0])
    del sys.modules["pressroom_gpu_check_probe"]
