"""Engine names and task kinds are declared once (schemas.spec); the registries cover exactly them."""

from __future__ import annotations

import importlib.util

from jobs.spec import PRESETS
from schemas.spec import EngineName, TaskKind
from workers.engines import ENGINES


def test_every_engine_name_has_exactly_one_registered_engine():
    assert set(ENGINES) == set(EngineName)
    for target in ENGINES.values():
        module, cls = target.split(":")
        assert importlib.util.find_spec(module) is not None, target
        assert cls.endswith("Engine"), target


def test_every_task_kind_has_exactly_one_preset():
    assert set(PRESETS) == set(TaskKind)
    assert PRESETS[TaskKind.CUSTOM].prompt is None  # custom needs task.prompt
    assert all(PRESETS[kind].prompt for kind in TaskKind if kind != TaskKind.CUSTOM)


def test_names_serialize_as_plain_strings():
    assert f"{EngineName.VLLM}" == "vllm" and f"{TaskKind.SUMMARY}" == "summary"
