"""Ray for a run: start or join it, apply the stages in order, stream what they produce.

With `jobs.run.stages`, the only modules that call `ray`. Blocks carry `_shard` and `_row`, so the
driver's sink can put each shard's rows back together in input order. A failure inside Ray is
told apart by the exception's type: bad input found in a task stays bad input (exit 2).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from jobs.errors import InputError, JobError, PressroomError
from jobs.run.stages import GenerateStage, RenderStage

# Non-secret AWS settings workers need (credentials reach local workers by inheritance, and
# cluster nodes by instance roles or workers.secrets: never through env_vars, which Ray shows).
AWS_FORWARDED = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE")
# A private local Ray (no --address) exports Prometheus metrics on this port when it is set; a
# cluster's nodes export them on `ray start --metrics-export-port`.
METRICS_PORT_ENV = "PRESSROOM_METRICS_PORT"
METRICS_REPORT_MS = 1000
QUIET_ENV = {
    "VLLM_LOGGING_LEVEL": "ERROR",
    "VLLM_CONFIGURE_LOGGING": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
    "PYTHONWARNINGS": "ignore",
}


def init_ray(*, verbose: bool, address: str | None = None) -> bool:
    """Join the cluster `address` or `$RAY_ADDRESS` names, else start a private local Ray (never a
    head someone else left running on the machine); nothing if Ray is already up in this process.
    True if this call connected (and so should shut down)."""
    import ray

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    # As a Ray job's driver, our runtime_env extends the job's (its env vars are already ours too).
    os.environ.setdefault("RAY_OVERRIDE_JOB_RUNTIME_ENV", "1")
    env = {} if verbose else dict(QUIET_ENV)
    env["PYTHONPATH"] = os.pathsep.join(p for p in [_project_root(), os.environ.get("PYTHONPATH")] if p)
    env.update({k: os.environ[k] for k in AWS_FORWARDED if k in os.environ})
    private = {}
    if address == "local" and os.environ.get(METRICS_PORT_ENV):  # a private Ray serves Prometheus here
        private = {
            "_metrics_export_port": int(os.environ[METRICS_PORT_ENV]),
            "_system_config": {"metrics_report_interval_ms": METRICS_REPORT_MS},
        }
    ray.init(
        address=address,
        runtime_env={"env_vars": env},
        log_to_driver=verbose,
        logging_level=logging.INFO if verbose else logging.ERROR,
        include_dashboard=False,
        **private,
    )
    _configure_data_context(verbose=verbose)
    return True


class EarlyRay:
    """Ray started (or joined) in a background thread while the driver prepares the run: the seconds
    Ray takes to start overlap choosing the shards' rows. `started()` waits for it and says whether
    this process started Ray (and so shuts it down); `close()` shuts that down.

    The thread lives until `close()`: Ray starts its local processes (GCS, raylet) with
    PR_SET_PDEATHSIG, which Linux fires when the *thread* that started them exits, not the process.
    """

    def __init__(self, *, verbose: bool, address: str | None):
        self._outcome: tuple[bool, BaseException | None] | None = None
        self._ready, self._closed = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._start, args=(verbose, address), name="pressroom-ray-start",
                                        daemon=True)  # fmt: skip
        self._thread.start()

    def _start(self, verbose: bool, address: str | None) -> None:
        try:
            self._outcome = (init_ray(verbose=verbose, address=address), None)
        except BaseException as exc:  # handed to the main thread by started()
            self._outcome = (False, exc)
        self._ready.set()
        self._closed.wait()  # Ray's local processes die with this thread

    def started(self) -> bool:
        self._ready.wait()
        started, error = self._outcome
        if error is not None:
            raise error
        return started

    def close(self) -> None:
        """Shut down the Ray this started (if it did), then let the thread end."""
        try:
            if self.started():
                shutdown_ray()
        except Exception:  # a Ray that never came up leaves nothing to stop
            pass
        finally:
            self._closed.set()
            self._thread.join()


def _project_root() -> str:
    """The checkout holding `jobs/`, `workers/` and `schemas/` (Ray workers import from it)."""
    return str(Path(__file__).resolve().parents[2])


def _configure_data_context(*, verbose: bool) -> None:
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = verbose
    context.print_on_execution_start = verbose
    if not verbose:
        logging.getLogger("ray.data").setLevel(logging.ERROR)
    _keep_exception_types()


def _keep_exception_types() -> None:
    """A UDF's own exception reaches the driver as itself (inside Ray's RayTaskError, which is an
    instance of it), not as text in Ray Data's UserCodeException: failures are told by type."""
    import ray.data

    ray.data.DataContext.get_current().raise_original_map_exception = True


def shutdown_ray() -> None:
    """Shut down the Ray this process started; with metrics exported, first wait for the last
    report so a scrape sees the run's final counts."""
    import time

    import ray

    if os.environ.get(METRICS_PORT_ENV):
        time.sleep(METRICS_REPORT_MS * 2.5 / 1000)
    ray.shutdown()


def stream(items: list[dict], *, render: RenderStage, generate: GenerateStage) -> Iterator[pa.Table]:
    """Apply the stages, in order, to the read units `items`; yield generated batches as they
    finish. A pool that never started is a JobError; any other failure comes out as Ray raised
    it, for the caller to tell apart with `failure` (with its own consumer's errors)."""
    import ray.data

    generate.pace()
    _keep_exception_types()  # also when Ray was started by someone else than init_ray
    dataset = ray.data.from_items(items, override_num_blocks=len(items))
    for stage in (render, generate):
        dataset = stage.apply(dataset)
    generate.check_cpu_room()
    requested = generate.request_pool()
    try:
        yield from dataset.iter_batches(batch_size=None, batch_format="pyarrow")
    except ray.exceptions.GetTimeoutError as exc:  # Ray Data's wait for the pool's minimum replicas
        raise generate.not_started() from exc
    finally:
        if requested:
            generate.release_pool()


def failure(exc: BaseException) -> PressroomError:
    """What a failure in Ray was, by the exceptions' types: Ray re-raises a task's own exception as
    a RayTaskError that is also an instance of it (and keeps it as `.cause`), so bad input found
    inside a task stays InputError (exit 2); anything else is a job failure whose one line names
    the real cause, not Ray Data's empty wrapper."""
    chain = _chain(exc)
    bad_input = [item for item in chain if isinstance(item, InputError)]
    if bad_input:  # the task's own exception is the last of them (Ray's wrapper leads with a traceback)
        return InputError(_first_line(bad_input[-1]))
    meaningful = [e for e in chain if _first_line(e) and type(e).__name__ != "SystemException"]
    cause = meaningful[-1] if meaningful else exc
    return JobError(f"generation failed: {type(cause).__name__}: {_summary(cause)}")


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes: `__cause__`, `__context__`, and Ray's `.cause`."""
    seen: list[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        cause = getattr(exc, "cause", None)
        exc = cause if isinstance(cause, BaseException) else (exc.__cause__ or exc.__context__)
    return seen


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _summary(exc: BaseException) -> str:
    """The first line, plus the line that says why when Ray puts it further down."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    why = [line for line in lines[1:] if any(k in line for k in ("because", "never ran", "cancelled", "Error:"))]
    return " ".join(dict.fromkeys(lines[:1] + why[-1:]))
