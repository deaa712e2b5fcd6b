"""What one page view of the viewer reads and shows, through FastAPI's test client on committed
runs written with the run-state writer (no browser, no engine): the first run's page, the store
reads a page costs, an image's one row group, and `ui --json`."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pyarrow as pa

from jobs.state import RunLayout, commit_manifest
from schemas.manifest import InputFile
from tests.test_query import commit_run
from workers.io import storage_for


def test_a_jobs_first_run_offers_no_compare_and_its_chart_has_axes_and_a_date(tmp_path):
    from fastapi.testclient import TestClient

    from jobs.query import connect
    from jobs.ui import create_app
    from tests.builders import JOB, committed_run

    out = tmp_path / "out"
    _, manifest = committed_run(out)
    client = TestClient(create_app(str(out)), base_url="http://127.0.0.1")
    run_page = client.get(f"/jobs/{JOB}/runs/{manifest.run_id}").text
    assert "/compare?b=" not in run_page and "nothing earlier to compare with" in run_page
    job_page = client.get(f"/jobs/{JOB}").text
    assert job_page.count('class="axis"') == 2 and ">2024-06-01</text>" in job_page  # its night's date
    bar_width = float(job_page.split('class="bar"')[1].split('width="')[1].split('"')[0])
    assert bar_width <= 48  # one night is a bar, not a block across the chart
    columns = [c[0] for c in connect(str(out)).sql("DESCRIBE runs").fetchall()]
    assert "state" in columns and "status" not in columns  # one word for a run's state


def test_a_page_view_reads_only_the_manifests_that_changed(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from jobs.ui import create_app
    from tests.builders import JOB, committed_run
    from workers.io import LocalStorage

    out = tmp_path / "out"
    for night in range(1, 6):
        committed_run(out, run_id=f"night-{night}", finished_at=f"2024-06-0{night}T02:03:04+00:00")
    reads: list[str] = []
    real = LocalStorage.read_bytes
    monkeypatch.setattr(LocalStorage, "read_bytes", lambda self, uri: reads.append(uri) or real(self, uri))
    client = TestClient(create_app(str(out)), base_url="http://127.0.0.1")

    def manifests_read(path: str) -> int:
        reads.clear()
        assert client.get(path).status_code == 200
        return sum(uri.endswith("_manifest.json") for uri in reads)

    assert manifests_read("/") == 5  # the first view reads each run once
    for path in ("/", f"/jobs/{JOB}", f"/jobs/{JOB}/runs/night-3"):
        assert manifests_read(path) == 0, path  # then only the listing and the latest pointer
    committed_run(out, run_id="night-6", finished_at="2024-06-06T02:03:04+00:00")
    assert manifests_read(f"/jobs/{JOB}") == 1  # tonight's, and no other


def test_ui_json_prints_where_it_serves_then_serves(tmp_path):
    import json
    import socket
    import subprocess
    import sys
    import urllib.request

    from tests.builders import committed_run

    committed_run(tmp_path / "out")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "jobs.cli", "ui", "--output-uri", str(tmp_path / "out"), "--port", str(port)]
    server = subprocess.Popen([*command, "--json"], stdout=subprocess.PIPE, text=True)
    try:
        told = json.loads(server.stdout.readline())
        assert told == {"url": f"http://127.0.0.1:{port}/", "output_uri": str(tmp_path / "out")}
        for _ in range(100):
            try:
                with urllib.request.urlopen(told["url"], timeout=5) as page:
                    assert page.status == 200 and "nightly-summaries" in page.read().decode()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError("the viewer never answered")
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_an_image_request_reads_one_row_group_not_the_input_file(tmp_path, monkeypatch):
    import pyarrow.parquet as pq
    from fastapi.testclient import TestClient
    from PIL import Image

    from jobs.ui import create_app

    out = str(tmp_path / "out")
    ids = [f"c{i}" for i in range(4)]
    pngs = []
    for color in ("red", "blue", "green", "white"):
        buffer = io.BytesIO()
        Image.new("RGB", (8, 6), color).save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    inputs = tmp_path / "images.parquet"
    table = pa.table({"id": ids, "image": pa.array(pngs, pa.binary())})
    pq.write_table(table, inputs, row_group_size=1)  # four row groups of one row
    manifest = commit_run(out, "captions-1", ids, job="captions")
    layout = RunLayout(output_uri=out, job="captions", run_id="captions-1")
    Path(layout.manifest).unlink()
    stat = inputs.stat()
    lineage = [InputFile(uri=str(inputs), rows=4, bytes=stat.st_size, mtime_ns=stat.st_mtime_ns)]
    commit_manifest(storage_for(out), layout, manifest.model_copy(update={"image_column": "image", "inputs": lineage}))
    reads: list[tuple[int, tuple]] = []
    real = pq.ParquetFile.read_row_group
    monkeypatch.setattr(
        pq.ParquetFile,
        "read_row_group",
        lambda self, i, columns=None, **kw: reads.append((i, tuple(columns or ()))) or real(self, i, columns, **kw),
    )
    client = TestClient(create_app(out), base_url="http://127.0.0.1")
    for round_ in range(2):
        for i in (2, 0):
            got = client.get("/jobs/captions/runs/captions-1/image", params={"id": ids[i]})
            assert got.status_code == 200 and got.content == pngs[i]
        id_reads = sorted(group for group, columns in reads if columns == ("id",))
        image_reads = [group for group, columns in reads if columns == ("image",)]
        # The id column once, on the first request; then one row group per image, the row's own.
        assert id_reads == ([0, 1, 2, 3] if round_ == 0 else []) and image_reads == [2, 0]
        reads.clear()
