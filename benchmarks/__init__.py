"""Benchmarks for issue 5: pressroom against raw vLLM, and the pipeline's own ceiling.

Not part of the package or the default test run; `tests/test_benchmarks_smoke.py` runs each
script at its smallest size so they cannot rot (the scaling one runs in tests/test_scale_out.py).
"""
