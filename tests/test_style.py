"""Formatting and linting are ruff's job: the tree must pass both, as `pre-commit` runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUFF = Path(sys.executable).with_name("ruff")


@pytest.mark.parametrize("args", [["check", "."], ["format", "--check", "."]], ids=["lint", "format"])
def test_ruff_passes_on_the_whole_tree(args):
    done = subprocess.run([str(RUFF), *args], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_no_function_in_jobs_or_workers_takes_more_than_seven_parameters():
    """A wide signature is loose data: pass a dataclass or the prepared run instead. Counted with
    `self`/`cls` left out and `*args`/`**kwargs` one each; nested functions and routes count too."""
    import ast

    wide = []
    for package in ("jobs", "workers"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    a = node.args
                    names = [x.arg for x in (*a.posonlyargs, *a.args, *a.kwonlyargs) if x.arg not in ("self", "cls")]
                    count = len(names) + bool(a.vararg) + bool(a.kwarg)
                    if count > 7:
                        wide.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} takes {count}")
    assert wide == []
