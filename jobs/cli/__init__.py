"""The `pressroom` command line: one module per command group, one place mapping errors to exits."""

from jobs.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
