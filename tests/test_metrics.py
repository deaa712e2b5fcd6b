"""Prometheus metrics through Ray's endpoint during a real job (simulated engine, real
tokenizer): the final values equal the manifest's totals; the dashboard asks only for them."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.builders import write_spec, write_table

ROOT = Path(__file__).resolve().parent.parent
JOB = "metrics-job"
DOCUMENTED = {
    "ray_pressroom_output_rows_total",
    "ray_pressroom_input_tokens_total",
    "ray_pressroom_output_tokens_total",
    "ray_pressroom_errors_total",
    "ray_pressroom_batch_seconds",
    "ray_pressroom_engine_busy_fraction",
    "ray_pressroom_queue_rows",
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _samples(text: str) -> dict[str, list]:
    found: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("ray_pressroom_") and sample.labels.get("job") == JOB:
                found.setdefault(sample.name, []).append(sample)
    return found


def test_scraped_metrics_equal_the_manifest(tiny_model, tmp_path):
    rows = [{"id": f"r{i:03d}", "title": f"Story {i}"} for i in range(60)]
    rows[7]["title"] = " ".join(["long"] * 300)  # longer than max_model_len: a prompt_too_long row
    spec = write_spec(
        tmp_path / "job.yaml",
        {
            "name": JOB,
            "input": {
                "uri": str(write_table(tmp_path / "in.parquet", rows)),
                "id_column": "id",
                "columns": ["title"],
                "rows_per_shard": 8,
            },
            "task": {"kind": "custom", "prompt": "Write about {{ title }}"},
            "model": {
                "engine": "simulated",
                "source": str(tiny_model),
                "max_model_len": 128,
                "engine_args": {"tokens_per_second": 100},
            },
            "sampling": {"temperature": 0.0, "max_tokens": 16},
            "output": {"uri": str(tmp_path / "out")},
            "resources": {"replicas": 1, "batch_size": 8},
        },
    )
    port = _free_port()
    scrapes: list[str] = []
    process = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "run", str(spec), "--run-id", "m1", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PRESSROOM_METRICS_PORT": str(port), "HF_HUB_OFFLINE": "1"},
    )

    def scrape() -> None:
        while process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    text = response.read().decode()
                if "ray_pressroom_" in text:
                    scrapes.append(text)
            except OSError:
                pass
            time.sleep(0.3)

    scraper = threading.Thread(target=scrape, daemon=True)
    scraper.start()
    stdout, stderr = process.communicate(timeout=300)
    scraper.join(timeout=10)
    assert process.returncode == 0, stderr[-3000:]
    manifest = json.loads(Path(json.loads(stdout)["manifest_uri"]).read_text())
    assert scrapes, "the metrics endpoint never served pressroom's metrics during the job"
    during = _samples(scrapes[len(scrapes) // 2])
    final = _samples(scrapes[-1])
    assert {name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum") for name in final} <= DOCUMENTED

    def total(name: str, **labels) -> float:
        return sum(s.value for s in final.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items()))

    totals = manifest["totals"]
    assert total("ray_pressroom_output_rows_total") == totals["outputs"] == 60
    assert total("ray_pressroom_input_tokens_total") == totals["input_tokens"]
    assert total("ray_pressroom_output_tokens_total") == totals["output_tokens"]
    assert manifest["errors"] == {"prompt_too_long": 1}
    for code, count in manifest["errors"].items():
        assert total("ray_pressroom_errors_total", code=code) == count
    assert total("ray_pressroom_batch_seconds_count") == 8  # 60 rows in batches of 8 per shard
    busy = total("ray_pressroom_engine_busy_fraction")
    assert 0 < busy <= 1
    assert total("ray_pressroom_queue_rows") == 0 and during  # the backlog drained; it was seen mid-job
    for sample in (s for samples in final.values() for s in samples):
        ours = {k for k in sample.labels if not k.startswith("otel_scope_")} - {"job", "code", "le"}
        assert ours <= {"SessionName", "NodeAddress", "Version", "Component", "WorkerId"}, sample.labels  # no run id


def test_the_dashboard_asks_only_for_documented_metrics():
    dashboard = json.loads((ROOT / "docs" / "grafana" / "pressroom.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {re.sub(r"_bucket$", "", name) for e in exprs for name in re.findall(r"\bray_pressroom_\w+", e)}
    assert used == DOCUMENTED
    guide = (ROOT / "docs" / "guides" / "ops.md").read_text()
    assert all(name.removeprefix("ray_") in guide for name in DOCUMENTED)
