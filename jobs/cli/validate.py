"""`pressroom validate`: check a spec and its input without loading a model."""

from __future__ import annotations

import argparse
import json

from jobs.errors import SpecError


def add_parser(sub, common: argparse.ArgumentParser) -> None:
    """Add the command's parser to the subcommands."""
    validate = sub.add_parser("validate", parents=[common], help="check a spec and its input without loading a model")
    validate.set_defaults(handler=command)
    validate.add_argument("spec", help="job spec YAML file")
    validate.add_argument("--output-uri", help="override output.uri")
    validate.add_argument("--json", action="store_true", help="print a JSON object")


def command(args) -> int:
    """Run the command; returns the exit code."""
    from jobs.inputs import inspect_input, split_shards
    from jobs.spec import load_spec
    from workers.models import check_model_source

    spec = load_spec(args.spec, output_uri=args.output_uri)
    table = inspect_input(spec)
    problem = check_model_source(spec.model.source)
    if problem:
        raise SpecError(f"{args.spec}: model.source: {problem}")
    shards = split_shards(table.files, rows_per_shard=spec.input.rows_per_shard)
    summary = {"job": spec.name, "valid": True, "files": len(table.files), "rows": table.rows, "shards": len(shards)}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"ok: job {spec.name}: {table.rows} rows in {len(table.files)} file(s), {len(shards)} shard(s)")
    return 0
