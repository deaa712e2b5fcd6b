"""The reviewers' web viewer in a real browser (Debian's headless Chromium through Playwright),
over runs the real pipeline produced in the test: numbers equal the manifest, paging, filters,
search and compare work, and row values holding HTML stay text. Screenshots of each main page
go to $PRESSROOM_ARTIFACTS (default: artifacts/ui under the repository)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pyarrow as pa
import pytest

from jobs.query import connect, diff_runs, load_committed_runs
from jobs.state import RunLayout, commit_manifest
from schemas.manifest import InputFile
from tests.builders import article_rows, tiny_spec, write_spec, write_table
from tests.test_query import commit_run, two_nights
from workers.io import storage_for

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("PRESSROOM_ARTIFACTS", REPO / "artifacts" / "ui"))
BROWSERS = ("/usr/bin/chromium-headless-shell", "/usr/bin/chromium")
SCRIPT = '<script>alert("pwned")</script><b>bold?</b>'
TITLES = {
    "r0001": SCRIPT,
    "r0003": "中文标题：夜间新闻摘要",
    "r0004": "عنوان عربي للأخبار",
    "r0005": "Emoji 🚀🌙 headline",
}
PAGE_SIZE = 5


def _browser_path() -> str | None:
    return os.environ.get("CHROMIUM_PATH") or next((p for p in BROWSERS if Path(p).exists()), None)


def _rows(count: int, edits: dict[str, str]) -> list[dict]:
    rows = article_rows(count)
    for row in rows:
        row["title"] = edits.get(row["id"], TITLES.get(row["id"], row["title"]))
        row["reference"] = "Story about revenue moved"
    rows[6]["body"] = " ".join(f"word{i}" for i in range(600))  # longer than max_model_len: an error row
    return rows


@pytest.fixture(scope="module")
def nights(tiny_model, tmp_path_factory, ray_session):
    """Two nights of a real job (hf engine on the tiny model): night 2 drops r0000, adds r0012 and
    r0013, and edits r0002's title."""
    from jobs.run import run_job
    from jobs.spec import load_spec

    base = tmp_path_factory.mktemp("ui")
    out = base / "out"
    specs = []
    for number, rows in ((1, _rows(12, {})), (2, _rows(14, {"r0002": "Story 2, rewritten for tonight"})[1:])):
        table = write_table(base / f"in-{number}.parquet", rows)
        spec = load_spec(
            write_spec(
                base / f"job-{number}.yaml",
                tiny_spec(
                    model=tiny_model,
                    input_uri=table,
                    output_uri=out,
                    engine="hf",
                    input={"columns": ["title", "body", "score"], "rows_per_shard": 4},
                    quality={"reference_column": "reference", "metrics": ["rouge_l", "chrf"]},
                    output={"store_prompts": number == 1},  # night 1 keeps its rendered prompts, night 2 does not
                ),
            )
        )
        specs.append(run_job(spec, run_id=f"night-{number}").manifest)
    return str(out), specs


@contextlib.contextmanager
def serving(root: str, **options):
    """The app under uvicorn in a thread on a free loopback port; yields its base URL."""
    import uvicorn

    from jobs.ui import create_app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    instance = uvicorn.Server(
        uvicorn.Config(create_app(root, **options), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert instance.started, "the viewer did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def server(nights):
    with serving(nights[0], page_size=PAGE_SIZE) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    path = _browser_path()
    if path is None:
        pytest.skip("no system Chromium (make setup installs chromium-headless-shell on Debian)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=path)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.slow  # the nights fixture runs the hf engine
def test_jobs_and_history_pages_show_the_manifests_numbers(page, server, nights):
    _, (one, two) = nights
    page.goto(server + "/")
    row = page.locator("tr.job[data-job='tiny-summaries']")
    assert row.locator(".rows-in").inner_text() == str(two.totals.rows_in)
    assert row.locator(".outputs-failed").inner_text() == str(two.totals.outputs_failed)
    assert "night-2" in row.inner_text() and "latest" in row.inner_text()
    shot(page, "jobs")

    row.locator("a.job-link").click()
    runs = page.locator("#runs tr.run")
    assert runs.count() == 2 and [runs.nth(i).get_attribute("data-run") for i in range(2)] == ["night-2", "night-1"]
    assert page.locator("#runs tr.run[data-run='night-1'] .rows-in").inner_text() == str(one.totals.rows_in)
    assert page.locator("#chart rect.bar").count() == 2
    shot(page, "job")


@pytest.mark.slow  # the nights fixture runs the hf engine
def test_run_page_totals_rows_and_escaping(page, server, nights):
    out, (one, _) = nights
    page.goto(server + "/jobs/tiny-summaries/runs/night-1")
    for name in ("rows_in", "rows_ok", "rows_failed", "outputs", "outputs_failed", "input_tokens", "output_tokens"):
        assert page.locator(f"#totals [data-total='{name}']").inner_text() == str(getattr(one.totals, name)), name
    for code, count in one.errors.items():
        assert page.locator(f"#errors [data-error='{code}']").inner_text() == str(count)
    assert page.locator("#scores [data-score='rouge_l']").inner_text() == f"{one.scores['rouge_l'].mean:.4f}"
    assert page.locator("#matching").inner_text() == str(one.totals.outputs)
    assert page.locator("#page-count").inner_text() == str(-(-one.totals.outputs // PAGE_SIZE))

    # r0001's title is markup: shown as text, never run, never parsed into elements.
    title = page.locator("tr.row[data-id='r0001'] td[data-column='title']")
    assert title.inner_text() == SCRIPT
    assert page.locator("main script").count() == 0 and page.locator("main b").count() == 0
    assert page.dialogs == []
    assert page.locator("tr.row[data-id='r0003'] td[data-column='title']").inner_text() == TITLES["r0003"]
    assert page.locator("tr.row[data-id='r0003'] td[data-column='title']").get_attribute("dir") == "auto"
    shot(page, "run")

    page.locator("#next").click()  # page 2: rows 6..10 by id, as DuckDB pages them
    assert page.locator("#page-number").inner_text() == "2"
    ids = [page.locator("tr.row").nth(i).get_attribute("data-id") for i in range(page.locator("tr.row").count())]
    con = connect(out, job="tiny-summaries")
    expected = [
        r[0]
        for r in con.execute(
            "SELECT row_id FROM outputs WHERE run_id = 'night-1' ORDER BY row_id LIMIT 5 OFFSET 5"
        ).fetchall()
    ]
    assert ids == expected
    prompt = page.locator("tr.row[data-id='r0005'] td.prompt details")
    prompt.locator("summary").click()  # collapsed until asked for, and checked against the row's hash
    assert prompt.locator("pre").inner_text() == "Summarize: Emoji 🚀🌙 headline. " + _rows(12, {})[5]["body"]
    assert "✓" in prompt.locator("summary").inner_text()

    page.goto(server + "/jobs/tiny-summaries/runs/night-2")  # not stored: the template and the row's inputs
    template = page.locator("tr.row[data-id='r0005'] td.prompt details.template")
    template.locator("summary").click()
    assert template.locator("pre").inner_text() == "Summarize: {{ title }}. {{ body }}"
    assert template.locator("dd[data-input='title']").inner_text() == "Emoji 🚀🌙 headline"


@pytest.mark.slow  # the nights fixture runs the hf engine
def test_filters_search_and_score_range(page, server, nights):
    out, (one, _) = nights
    page.goto(server + "/jobs/tiny-summaries/runs/night-1")
    ((code, count),) = one.errors.items()
    page.select_option("#filter-error", code)
    page.click("#apply")
    assert page.locator("#matching").inner_text() == str(count)
    assert {page.locator("tr.row td.error code").nth(i).inner_text() for i in range(count)} == {code}

    page.goto(server + "/jobs/tiny-summaries/runs/night-1")
    page.fill("#filter-search", "中文")
    page.click("#apply")
    assert [page.locator("tr.row").nth(i).get_attribute("data-id") for i in range(page.locator("tr.row").count())] == [
        "r0003"
    ]

    page.goto(server + "/jobs/tiny-summaries/runs/night-1")
    page.select_option("#filter-metric", "chrf")
    page.fill("#filter-min", "0")
    page.fill("#filter-max", "1")
    page.click("#apply")
    scored = (
        connect(out, job="tiny-summaries")
        .execute("SELECT count(*) FROM outputs WHERE run_id = 'night-1' AND score_chrf BETWEEN 0 AND 1")
        .fetchone()[0]
    )
    assert page.locator("#matching").inner_text() == str(scored) == str(one.scores["chrf"].scored)


@pytest.mark.slow  # the nights fixture runs the hf engine
def test_compare_shows_what_changed_tonight(page, server, nights):
    out, _ = nights
    diff = diff_runs(out, "tiny-summaries", "night-1", "night-2")
    page.goto(server + "/jobs/tiny-summaries")
    page.click("#compare-latest")  # default: the latest against the committed run before it
    assert page.locator("h1").inner_text() == "night-1 → night-2"
    for kind in ("added", "removed", "changed"):
        assert page.locator(f"#counts [data-count='{kind}']").inner_text() == str(diff.counts[kind]), kind
    assert diff.counts["added"] == 2 and diff.counts["removed"] == 1
    shot(page, "compare")
    page.locator("#counts a.count-removed").click()
    assert [
        page.locator("tr.change").nth(i).get_attribute("data-id") for i in range(page.locator("tr.change").count())
    ] == ["r0000"]
    if diff.counts["changed"]:
        page.locator("#counts a.count-changed").click()
        assert page.locator("tr.change-changed td.diff").count() == min(diff.counts["changed"], PAGE_SIZE)
        assert page.locator("tr.change-changed td.diff ins, tr.change-changed td.diff del").count() > 0


def test_caption_rows_show_their_image_inline(page, tmp_path):
    """A committed caption run (written with the run-state writer; outputs hold no images): the
    viewer reads each image from the input file the manifest lists."""
    from PIL import Image

    out = str(tmp_path / "out")
    pngs = []
    for color in ("red", "blue"):
        buffer = io.BytesIO()
        Image.new("RGB", (32, 24), color).save(buffer, format="PNG")
        pngs.append(buffer.getvalue())
    ids = ["c/0", "c/1 ü?#"]  # a slash, a space and URL syntax in ids: links must still find the row
    inputs = write_table(
        tmp_path / "images.parquet",
        [{"id": i, "image": png} for i, png in zip(ids, pngs, strict=True)],
        schema=pa.schema([("id", pa.string()), ("image", pa.binary())]),
    )
    stat = inputs.stat()
    manifest = commit_run(out, "captions-1", ids, job="captions")
    layout = RunLayout(output_uri=out, job="captions", run_id="captions-1")
    Path(layout.manifest).unlink()  # commit again with a caption run's input lineage
    commit_manifest(
        storage_for(out),
        layout,
        manifest.model_copy(
            update={
                "image_column": "image",
                "inputs": [InputFile(uri=str(inputs), rows=2, bytes=stat.st_size, mtime_ns=stat.st_mtime_ns)],
            }
        ),
    )
    with serving(out) as url:
        page.goto(f"{url}/jobs/captions/runs/captions-1")
        image = page.locator("tr.row[data-id='c/1 ü?#'] td.image img")
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
        assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [32, 24]
        shot(page, "captions")
        inputs.write_bytes(inputs.read_bytes() + b"changed")  # a changed input: no image rather than a wrong one
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}/jobs/captions/runs/captions-1/image?id=c%2F1%20%C3%BC%3F%23")
        assert refused.value.code == 404 and b"no unchanged input file" in refused.value.read()


@pytest.mark.slow  # the nights fixture runs the hf engine
def test_the_viewer_is_read_only_and_local_unless_asked(server, nights):
    request = urllib.request.Request(server + "/jobs/tiny-summaries/runs/night-1", method="POST", data=b"")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 405
    with urllib.request.urlopen(server + "/") as response:
        assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none': no scripts
        assert response.headers["Content-Security-Policy"].startswith("default-src 'none'")
    remote = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "ui", "--output-uri", nights[0], "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert remote.returncode == 2 and "--allow-remote" in remote.stderr
    assert len(load_committed_runs(nights[0]).runs) == 2  # nothing written by any page


def test_the_viewer_reads_an_s3_root(s3_bucket):
    from fastapi.testclient import TestClient

    from jobs.ui import create_app

    root = f"s3://{s3_bucket}/out"
    two_nights(root)
    client = TestClient(create_app(root), base_url="http://127.0.0.1")
    assert "night-2" in client.get("/").text
    run = client.get("/jobs/nightly/runs/night-2?q=rewritten")
    assert run.status_code == 200 and 'data-id="r0002"' in run.text
    assert client.get("/jobs/nightly/runs/night-3").status_code == 404  # uncommitted: never shown


def test_browser_is_on_the_machine_for_ci():
    """make setup installs it; on a machine it could not, say so instead of skipping silently."""
    if shutil.which("apt-get") and os.geteuid() == 0:
        assert _browser_path(), "make setup should have installed chromium-headless-shell"


def _request(url: str, *, host: str) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def test_a_foreign_host_header_gets_400_and_a_stored_template_is_never_run(tmp_path):
    """DNS rebinding: a page of another origin reaches the loopback viewer with its own host name.
    And a template in a manifest is shown, never rendered (it could be anything a writer of the
    output root put there): its inputs come from the run's unchanged input file."""
    out = str(tmp_path / "out")
    manifest = commit_run(out, "night-1", ["r0000", "r0001"])
    inputs = write_table(
        tmp_path / "in.parquet", [{"id": "r0000", "body": "Body zero"}, {"id": "r0001", "body": "Body one"}]
    )
    hostile = "{{ 6 * 7 }} {{ body }}{% for i in range(10**9) %}{% endfor %}"
    layout = RunLayout(output_uri=out, job="nightly", run_id="night-1")
    Path(layout.manifest).unlink()
    commit_manifest(
        storage_for(out),
        layout,
        manifest.model_copy(
            update={
                "task": {**manifest.task, "prompt": hostile},
                "inputs": [
                    InputFile(uri=str(inputs), rows=2, bytes=inputs.stat().st_size, mtime_ns=inputs.stat().st_mtime_ns)
                ],
            }
        ),
    )
    with serving(out) as url:
        port = url.rsplit(":", 1)[1]
        for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.nip.io:{port}"):
            status, body = _request(url + "/", host=host)
            assert status == 400 and "night-1" not in body, host
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
            assert _request(url + "/", host=host)[0] == 200, host
        began = time.monotonic()
        status, page = _request(url + "/jobs/nightly/runs/night-1", host=f"localhost:{port}")
        assert status == 200 and time.monotonic() - began < 10
    assert "42" not in page and "{{ 6 * 7 }} {{ body }}" in page.replace("&#39;", "'")
    assert 'data-input="body">Body one<' in page and 'data-input="body">Body zero<' in page


def test_the_viewer_serves_only_the_hosts_it_was_started_for(tmp_path):
    from fastapi.testclient import TestClient

    from jobs.ui import create_app

    out = str(tmp_path / "out")
    commit_run(out, "night-1", ["r0000"])
    app = create_app(out, hosts=("viewer.internal",))
    assert TestClient(app, base_url="http://viewer.internal:8765").get("/").status_code == 200
    assert TestClient(app, base_url="http://other.internal:8765").get("/").status_code == 400
