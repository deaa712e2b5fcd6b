"""The wheels pressroom's hf path needs on a GPU machine that has torch, transformers, peft,
accelerate and pyarrow but no package registry: which are missing, downloaded here, installed there.

What is needed is measured, not listed by hand: a fresh interpreter imports the modules the check
runs (the hf engine, the tiny-model builder); the distributions behind what it imported that
pressroom declares as dependencies, with everything they require, are needed. Missing are those
the machine's packages do not bring for certain: those packages and their direct requirements
(read from this environment; deeper ones change between releases: transformers brings pydantic
here only through typer's latest). The bundle holds the missing ones plus their direct
requirements (a machine may hold an older typing-extensions than pydantic needs): one pure-Python
wheel each, and a binary wheel per Python version for compiled ones (pydantic-core). There, a
wheel is installed only where its distribution is absent or older, into a directory put first on
sys.path: what is really missing there.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

# What the lent GPU machines have (ENVIRONMENT.md): no vLLM, no Ray, no registry.
DEVICE_HAS = ("torch", "transformers", "peft", "accelerate", "pyarrow")
# The modules gpu_check.py runs: the hf engine's generate path and the tiny model built on the spot.
CHECK_MODULES = ("workers.engines.hf_engine", "workers.models.byte_bpe", "tests.tiny_models")
# pressroom needs Python >= 3.11; a compiled wheel is fetched for each of these.
PYTHONS = ("3.11", "3.12", "3.13", "3.14")
PLATFORMS = ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_28_x86_64")
BUNDLE_RECORD = "bundle.json"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def canonical(name: str) -> str:
    """PEP 503 name: `Typing_Extensions` -> `typing-extensions`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(dist: str) -> set[str]:
    """The distributions `dist` requires in this environment (markers evaluated, no extras)."""
    from packaging.requirements import Requirement

    out = set()
    for line in metadata.requires(dist) or []:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            out.add(canonical(requirement.name))
    return out


def closure(roots: set[str]) -> set[str]:
    """`roots` and everything they require, transitively (what is installed here)."""
    seen: set[str] = set()
    todo = [canonical(r) for r in roots]
    while todo:
        dist = todo.pop()
        if dist in seen:
            continue
        seen.add(dist)
        with contextlib.suppress(metadata.PackageNotFoundError):  # required only on other platforms, or optional
            todo.extend(requirements(dist) - seen)
    return seen


def imported_distributions(modules: tuple[str, ...] = CHECK_MODULES) -> set[str]:
    """Distributions whose top-level modules a fresh interpreter imports for `modules`."""
    probe = (
        "import importlib, json, sys; [importlib.import_module(m) for m in sys.argv[1:]]; "
        "print(json.dumps(sorted({n.split('.')[0] for n in sys.modules})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *modules], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT
    )
    owners = metadata.packages_distributions()
    return {canonical(dist) for top in json.loads(done.stdout) for dist in owners.get(top, [])}


def missing_distributions() -> tuple[set[str], set[str]]:
    """(needed, missing): what the check's pressroom imports need, and what the machine lacks of it."""
    declared = {
        canonical(re.split(r"[\s;<>=!~\[]", line, maxsplit=1)[0]) for line in metadata.requires("pressroom") or []
    }
    needed = closure(imported_distributions() & declared)
    certain = set(DEVICE_HAS).union(*(requirements(dist) for dist in DEVICE_HAS))
    return needed, needed - certain


def bundle(into: Path) -> dict:
    """Download the missing wheels (and their direct requirements) at this environment's versions."""
    needed, missing = missing_distributions()
    wanted = sorted(missing | {req for dist in missing for req in requirements(dist)})
    pins = [f"{dist}=={metadata.version(dist)}" for dist in wanted]
    into.mkdir(parents=True, exist_ok=True)
    for python in PYTHONS:
        abi = "cp" + python.replace(".", "")
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--quiet",
            "--python-version",
            python,
            "--implementation",
            "cp",
            "--abi",
            abi,
            "--abi",
            "none",
            *[arg for platform in PLATFORMS for arg in ("--platform", platform)],
            "-d",
            str(into),
            *pins,
        ]
        subprocess.run(command, check=True)
    files = sorted(p.name for p in into.glob("*.whl"))
    record = {
        "needed": sorted(needed),
        "missing": sorted(missing),
        "pins": pins,
        "pythons": list(PYTHONS),
        "files": files,
        "bytes": sum((into / f).stat().st_size for f in files),
    }
    (into / BUNDLE_RECORD).write_text(json.dumps(record, indent=1) + "\n")
    return record


def _installed_version(dist: str):
    from packaging.version import Version

    try:
        return Version(metadata.version(dist))
    except metadata.PackageNotFoundError:
        return None


def wheels_to_install(folder: Path) -> list[Path]:
    """The bundle's wheels this interpreter can use, for distributions absent here or older."""
    from packaging.tags import sys_tags
    from packaging.utils import parse_wheel_filename

    supported = set(sys_tags())
    chosen = []
    for path in sorted(folder.glob("*.whl")):
        name, version, _, tags = parse_wheel_filename(path.name)
        installed = _installed_version(name)
        if tags & supported and (installed is None or installed < version):
            chosen.append(path)
    return chosen


def install(folder: Path) -> list[str]:
    """Install what `wheels_to_install` picks with `pip --no-index` into a fresh directory put
    first on sys.path (unpacked as plain zips where pip is absent); the names and versions installed."""
    chosen = wheels_to_install(folder)
    if not chosen:
        return []
    target = Path(tempfile.mkdtemp(prefix="pressroom-gpu-wheels-"))
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--no-index",
        "--no-deps",
        "--quiet",
        "--target",
        str(target),
        *map(str, chosen),
    ]
    if subprocess.run(command, capture_output=True, text=True).returncode != 0:
        for wheel in chosen:  # a wheel is a zip of what goes in site-packages
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(target)
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    return [" ".join(path.name.split("-")[:2]) for path in chosen]
