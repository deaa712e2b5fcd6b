"""The docs site builds with `mkdocs build --strict`, its reference pages come from the code, and the
getting-started page runs as written (issue 32)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.cli.main import build_parser
from schemas.rows import ErrorCode
from workers.home import pressroom_home

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
GETTING_STARTED = ROOT / "docs" / "guides" / "getting-started.md"
NEEDS = re.compile(r"<!-- needs: (cluster|gpu) -->\s*$")


def test_the_site_builds_strict_with_reference_pages_from_the_code(tmp_path):
    site = tmp_path / "site"
    done = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "--quiet", "-d", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DISABLE_MKDOCS_2_WARNING": "true", "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    errors = (site / "reference" / "errors" / "index.html").read_text()
    assert all(f"<code>{code.value}</code>" in errors for code in ErrorCode)
    cli = (site / "reference" / "cli" / "index.html").read_text()
    commands = next(a for a in build_parser()._actions if hasattr(a, "choices") and a.choices).choices
    assert all(f"pressroom {name}" in cli for name in commands)
    spec = (site / "reference" / "spec" / "index.html").read_text()
    assert "max_tokens" in spec and "reference_column" in spec
    for page in ("guides/getting-started", "guides/nightly-jobs", "guides/data-teams", "guides/ops"):
        assert (site / page / "index.html").exists(), page


def shell_blocks(markdown: str) -> list[tuple[str, bool]]:
    """Each ```sh block of a page, and whether it only needs to parse (marked as needing a cluster or GPU)."""
    blocks, marked = [], False
    lines = iter(markdown.splitlines())
    for line in lines:
        if NEEDS.match(line):
            marked = True
        elif line.startswith("```sh"):
            body = []
            for inner in lines:
                if inner.startswith("```"):
                    break
                body.append(inner)
            blocks.append(("\n".join(body), marked))
            marked = False
        elif line.strip():
            marked = marked and line.startswith("<!--")
    return blocks


def test_every_shell_block_of_the_docs_parses():
    for page in sorted((ROOT / "docs").rglob("*.md")):
        for block, _ in shell_blocks(page.read_text()):
            parsed = subprocess.run(["bash", "-n"], input=block, capture_output=True, text=True)
            assert parsed.returncode == 0, (page.name, block, parsed.stderr)


@pytest.mark.slow  # runs the default model twice, as the page says
def test_getting_started_runs_as_written(tmp_path):
    blocks = shell_blocks(GETTING_STARTED.read_text())
    runnable = [block for block, only_parse in blocks if not only_parse]
    assert len(runnable) == len(blocks) - 1  # only the scheduler daemon needs a cluster
    script = "set -euo pipefail\ncd " + str(ROOT) + "\n" + "\n".join(runnable)
    env = {
        **os.environ,
        "HOME": str(tmp_path),  # ~/first-job lands here
        "PRESSROOM_HOME": str(pressroom_home()),  # the default model make setup prepared
        "HF_HUB_OFFLINE": "1",
    }
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    job = tmp_path / "first-job"
    night = json.loads((job / "night-2.json").read_text())
    assert (night["totals"]["rows_reused"], night["totals"]["rows_generated"]) == (3, 1)
    assert "3 reused, 1 generated" in done.stdout
    assert "first-summaries: night-1 -> night-2: 1 added, 0 removed, 0 changed" in done.stdout
    assert "next slot" in done.stdout  # schedule list read the spec's cron


@pytest.mark.parametrize("page", ["README.md", "docs/index.md"])
def test_the_example_spec_on_the_first_page_validates_as_copied(page, tmp_path):
    """Copied next to the example data (as `data/`), the first page's spec passes `validate`."""
    block = re.search(r"```yaml\n(.*?)```", (ROOT / page).read_text(), re.S).group(1)
    (tmp_path / "data").symlink_to(ROOT / "examples" / "data")
    spec = tmp_path / "job.yaml"
    spec.write_text(block)
    done = subprocess.run(
        [str(BIN / "pressroom"), "validate", str(spec)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok: job nightly-summaries: 200 rows")
