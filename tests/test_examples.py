"""Every example spec validates against its shipped data, without loading a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.inputs import inspect_input
from jobs.spec import load_spec

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.yaml"))


def test_there_is_an_example_per_kind():
    kinds = {load_spec(path).task.kind for path in EXAMPLES}
    assert {"summary", "report", "label"} <= kinds


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_spec_validates(path):
    spec = load_spec(path)
    table = inspect_input(spec)
    assert table.rows > 0
    assert spec.output.uri.endswith("/out")
