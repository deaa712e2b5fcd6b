"""Imports run one way (jobs -> workers -> schemas), and subpackages keep their internals private.

The direction is import-linter's layers contract in pyproject.toml, run here with the tool
itself so a change that breaks it fails `make test`. Imports inside functions and under
TYPE_CHECKING count (grimp finds both).
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent


def test_the_layers_contract_is_kept():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = config["contracts"]
    assert [c["layers"] for c in contracts if c["type"] == "layers"] == [["jobs", "workers", "schemas"]]
    assert not any("ignore_imports" in c for c in contracts)  # no exceptions to the rule
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 kept, 0 broken" in done.stdout


def _subpackage(module: str) -> str | None:
    """'jobs.state' for 'jobs.state.write'; None for a top-level module such as 'jobs.errors'."""
    parts = module.split(".")
    if len(parts) < 2:
        return None
    candidate = ".".join(parts[:2])
    return candidate if (ROOT / Path(*parts[:2]) / "__init__.py").exists() else None


def private_imports(graph) -> list[str]:
    """Imports of another subpackage's internals (`jobs.state.write` from `jobs.run`), not its face."""
    found = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            owner = _subpackage(imported)
            if owner and owner != imported and owner != _subpackage(importer):
                lines = graph.get_import_details(importer=importer, imported=imported)
                found.append(f"{importer}:{lines[0]['line_number']} imports {imported} (use {owner})")
    return found


def test_subpackages_are_used_through_their_public_face():
    graph = grimp.build_graph("jobs", "workers", "schemas")
    assert private_imports(graph) == []


def test_the_face_check_sees_a_private_import(tmp_path, monkeypatch):
    graph = grimp.build_graph("jobs", "workers", "schemas")
    graph.add_import(importer="jobs.run.attempt", imported="jobs.state.write", line_number=1, line_contents="x")
    assert private_imports(graph) == ["jobs.run.attempt:1 imports jobs.state.write (use jobs.state)"]
