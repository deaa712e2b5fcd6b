"""Load a job spec from YAML: validate, apply presets, resolve relative paths."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from jobs.errors import SpecError
from jobs.spec.messages import describe
from jobs.spec.presets import resolve_task
from schemas.spec import JobSpec
from workers.io import scheme_of
from workers.render import check_template


def _resolve_path(value: str, base: Path) -> str:
    """Relative local paths resolve against the spec file's directory; URIs stay as they are."""
    if scheme_of(value):
        return value
    return str((base / Path(value).expanduser()).resolve())


def _resolve_model_source(source: str, base: Path) -> str:
    """'default' and hub ids stay; anything that looks like a path resolves like other paths."""
    if source == "default" or scheme_of(source):
        return source
    looks_local = source.startswith((".", "/", "~")) or (base / source).exists()
    return _resolve_path(source, base) if looks_local else source


def load_spec(path: str | Path, *, output_uri: str | None = None) -> JobSpec:
    """Read, validate and resolve a spec file; raises SpecError naming the file and field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise SpecError(f"job spec not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"job spec {path} cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"job spec {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"job spec {path} must be a YAML mapping, got {type(raw).__name__}")
    if output_uri is not None:
        # A command-line path is relative to where the command runs, not to the spec file.
        output_uri = output_uri if scheme_of(output_uri) else str(Path(output_uri).expanduser().resolve())
        raw.setdefault("output", {})
        if isinstance(raw["output"], dict):
            raw["output"]["uri"] = output_uri
    try:
        spec = JobSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(describe(path, exc, JobSpec)) from None
    return _resolved(spec, path=path)


def _resolved(spec: JobSpec, *, path: Path) -> JobSpec:
    base = path.resolve().parent
    task = resolve_task(kind=spec.task.kind, system=spec.task.system, prompt=spec.task.prompt)
    problem = check_template(task.prompt or "")
    if problem:
        raise SpecError(f"invalid job spec {path}:\n  task.prompt: template error at {problem}")
    model = spec.model.model_copy(
        update={
            "source": _resolve_model_source(spec.model.source, base),
            "adapter": _resolve_path(spec.model.adapter, base) if spec.model.adapter else None,
            "adapters": {name: _resolve_path(path, base) for name, path in spec.model.adapters.items()},
        }
    )
    return spec.model_copy(
        update={
            "input": spec.input.model_copy(
                update={
                    "uri": _resolve_path(spec.input.uri, base),
                    "image_roots": [_resolve_path(root, base) for root in spec.input.image_roots],
                }
            ),
            "output": spec.output.model_copy(update={"uri": _resolve_path(spec.output.uri, base)}),
            "task": spec.task.model_copy(update={"system": task.system, "prompt": task.prompt}),
            "model": model,
        }
    )
