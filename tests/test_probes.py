"""The benchmark probe that times ray.data.llm's engine requests (benchmarks/probes.py).

The real proof is `engine_ratio.py` with side (d); these check the two mechanisms it relies on:
patching a module right after it is imported, and one event per request with its output intact.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import types

from benchmarks.probes import EVENTS_ENV, _AfterImport, _time_ray_llm_requests, read_events


def test_after_import_patches_only_the_named_module(tmp_path, monkeypatch):
    (tmp_path / "probe_target.py").write_text("def answer():\n    return 1\n")
    (tmp_path / "probe_other.py").write_text("def answer():\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    finder = _AfterImport("probe_target", lambda module: setattr(module, "answer", lambda: 2))
    sys.meta_path.insert(0, finder)
    try:
        other = importlib.import_module("probe_other")
        target = importlib.import_module("probe_target")
    finally:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)
        sys.modules.pop("probe_target", None)
        sys.modules.pop("probe_other", None)
    assert (target.answer(), other.answer()) == (2, 1)
    assert finder not in sys.meta_path  # it steps aside once it has found its module


def test_each_engine_request_records_one_event(tmp_path, monkeypatch):
    monkeypatch.setenv(EVENTS_ENV, str(tmp_path))

    class Wrapper:  # the shape of ray.data.llm's vLLMEngineWrapper that the probe wraps
        async def _generate_async(self, request):
            await asyncio.sleep(0.01)
            return f"output of {request}"

    module = types.SimpleNamespace(vLLMEngineWrapper=Wrapper)
    _time_ray_llm_requests(module)

    async def run():
        return await asyncio.gather(*(Wrapper()._generate_async(i) for i in range(3)))

    assert asyncio.run(run()) == ["output of 0", "output of 1", "output of 2"]
    events = read_events(tmp_path)
    assert [e["event"] for e in events] == ["ray_llm_request"] * 3
    assert all(e["end"] - e["start"] >= 0.01 for e in events)
