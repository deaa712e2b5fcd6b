"""Reference pages generated from the code at build time (mkdocs-gen-files), so they cannot drift:
the job spec (pydantic models), the CLI (argparse parsers), error codes, manifest fields, metrics.

Hand-written because no plugin renders pydantic models, argparse parsers and enums together into
plain Markdown tables without importing a documentation framework into the package itself.
"""

from __future__ import annotations

import argparse
import inspect

import mkdocs_gen_files
from pydantic import BaseModel

from jobs.cli.main import build_parser
from schemas.manifest import Manifest, ShardRecord
from schemas.rows import ErrorCode
from schemas.spec import JobSpec
from workers.metrics import METRICS


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _type(annotation: object) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or str(annotation).replace("typing.", "").replace("schemas.spec.", "").replace("schemas.manifest.", "")
    return f"`{text}`"


def _default(field) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if isinstance(value, BaseModel):
        return "its section's defaults"
    return f"`{getattr(value, 'value', value)!r}`"


def _meaning(field) -> str:
    """The field's description, else the first line of its section model's docstring."""
    if field.description:
        return field.description
    models = _models_in(field.annotation)
    return inspect.cleandoc(models[0].__doc__ or "").split("\n")[0] if models else ""


def model_tables(model: type[BaseModel], title: str, seen: set[str] | None = None) -> list[str]:
    """One table per model, the nested models after it."""
    seen = seen if seen is not None else set()
    if model.__name__ in seen:
        return []
    seen.add(model.__name__)
    doc = inspect.cleandoc(model.__doc__ or "")
    lines = [f"## {title}", "", doc, "", "| key | type | default | meaning |", "|---|---|---|---|"]
    nested = []
    for name, field in model.model_fields.items():
        row = [f"`{name}`", _type(field.annotation), _default(field), _meaning(field)]
        lines.append("| " + " | ".join(_cell(part) for part in row) + " |")
        nested += [(name, m) for m in _models_in(field.annotation)]
    lines.append("")
    for name, sub in nested:
        lines += model_tables(sub, f"`{name}`: {sub.__name__}", seen)
    return lines


def _models_in(annotation: object) -> list[type[BaseModel]]:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


def cli_page() -> list[str]:
    parser = build_parser()
    lines = ["# CLI", "", "Every command, its arguments and options, from the parsers themselves.", ""]
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {c.dest: c.help for c in commands._choices_actions}
    for name, sub in commands.choices.items():
        usage = sub.format_usage().strip()
        lines += [f"## `pressroom {name}`", "", _cell(helps.get(name, "")), "", "```text", usage, "```", ""]
        lines += ["| argument | meaning |", "|---|---|"]
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    lines.append(f"| `{name} {choice.dest}` | {_cell(choice.help or '')} |")
                continue
            flags = ", ".join(action.option_strings) or action.dest.upper()
            lines.append(f"| `{flags}` | {_cell(action.help or '')} |")
        lines.append("")
    return lines


def error_page() -> list[str]:
    lines = [
        "# Error codes",
        "",
        "A row that gets no usable text is kept as an error row: `error_code` (one of these, stable "
        "once shipped) and `error_message`.",
        "",
        "| code |",
        "|---|",
    ]
    lines += [f"| `{code.value}` |" for code in ErrorCode]
    return lines


def metrics_page() -> list[str]:
    lines = [
        "# Metrics",
        "",
        "What the generation actors export through Ray's metrics agent (Prometheus names get Ray's `ray_` prefix).",
        "",
        "| metric | kind | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{name}` | {kind} | {_cell(text)} |" for name, kind, text in METRICS]
    return lines


PAGES = {
    "reference/spec.md": [
        "# Job spec",
        "",
        "Every key of a job spec, from the pydantic models (`schemas/spec.py`; JSON Schema in "
        "`schemas/job_spec.schema.json`). Unknown keys are errors.",
        "",
        *model_tables(JobSpec, "The spec"),
    ],
    "reference/manifest.md": [
        "# Manifest and shard records",
        "",
        "What a committed run's `_manifest.json` and each shard's record hold (`schemas/manifest.py`).",
        "",
        *model_tables(Manifest, "The manifest"),
        *model_tables(ShardRecord, "A shard record"),
    ],
    "reference/cli.md": cli_page(),
    "reference/errors.md": error_page(),
    "reference/metrics.md": metrics_page(),
}

for path, page in PAGES.items():
    with mkdocs_gen_files.open(path, "w") as out:
        out.write("\n".join(page) + "\n")
