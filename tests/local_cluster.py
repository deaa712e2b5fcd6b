"""Multi-node Ray on one machine for the scale-out tests: logical GPUs, nodes removed without
grace, and a head whose autoscaler adds fake GPU nodes.

Every process is started with a tag in its environment and reaped by it at the end; nothing
here ever stops every Ray on the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.processes import TAG_VARIABLE, command_line, new_tag, reap, spawn_logged, stop_head

# The GCS learns a node is gone after health_check_period_ms x failure_threshold (~3 s here,
# ~14 s with Ray's defaults): what bounds how long a job waits on a node lost without grace.
HEALTH_CHECKS = {"health_check_period_ms": 1000, "health_check_failure_threshold": 3}
CLUSTER_GCS_PORT = 27379
AUTOSCALING_GCS_PORT = 27479
AUTOSCALING_AGENT_PORT = 28366


@contextlib.contextmanager
def _tagged() -> Iterator[str]:
    """Processes started inside inherit a fresh tag (the test process itself is never reaped)."""
    tag = new_tag()
    saved = os.environ.get(TAG_VARIABLE)
    os.environ[TAG_VARIABLE] = tag
    try:
        yield tag
    finally:
        if saved is None:
            os.environ.pop(TAG_VARIABLE, None)
        else:
            os.environ[TAG_VARIABLE] = saved


@contextlib.contextmanager
def gpu_cluster(workers: int, *, cpus: int = 1, gpus: int = 1):
    """A head (one CPU, no GPU) and `workers` nodes of `cpus` CPUs and `gpus` logical GPUs."""
    from ray.cluster_utils import Cluster

    saved_address = os.environ.pop("RAY_ADDRESS", None)
    with _tagged() as tag:
        cluster = Cluster(
            initialize_head=True,
            connect=False,
            head_node_args={
                "num_cpus": 1,
                "gcs_server_port": CLUSTER_GCS_PORT,
                "include_dashboard": False,
                "_system_config": HEALTH_CHECKS,
            },
        )
        for _ in range(workers):
            cluster.add_node(num_cpus=cpus, num_gpus=gpus)
        cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        cluster.shutdown()
        leftovers = reap(tag)
        if saved_address is not None:
            os.environ["RAY_ADDRESS"] = saved_address
        assert leftovers == [], [command_line(p) for p in leftovers]


def _autoscaling_config(gcs: str, max_gpu_nodes: int) -> dict:
    """Ray's fake multi-node provider: worker nodes are processes on this machine."""
    empty = (
        "initialization_commands",
        "setup_commands",
        "head_setup_commands",
        "worker_setup_commands",
        "head_start_ray_commands",
        "worker_start_ray_commands",
        "cluster_synced_files",
        "rsync_exclude",
        "rsync_filter",
    )
    return {
        "cluster_name": "pressroom-fake",
        "max_workers": max_gpu_nodes,
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": 0.2,
        "provider": {
            "type": "fake_multinode",
            "gcs_address": gcs,
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
        },
        "available_node_types": {
            "ray.head.default": {"resources": {"CPU": 1}, "node_config": {}, "max_workers": 0},
            "gpu_worker": {
                "resources": {"CPU": 1, "GPU": 1},
                "node_config": {},
                "min_workers": 0,
                "max_workers": max_gpu_nodes,
            },
        },
        "head_node_type": "ray.head.default",
        "auth": {"ssh_user": "pressroom"},
        "docker": {},
        "file_mounts": {},
        "file_mounts_sync_continuously": False,
        **{key: [] for key in empty},
    }


@contextlib.contextmanager
def autoscaling_head(max_gpu_nodes: int = 2) -> Iterator[tuple[str, dict[str, str]]]:
    """A head with no GPU whose autoscaler adds up to `max_gpu_nodes` one-GPU nodes on demand;
    yields (GCS address, the environment its clients need)."""
    from tests.ray_head import _wait_port_free

    root = Path(tempfile.mkdtemp(prefix="pas-", dir="/tmp"))  # short: Ray's sockets live under it
    gcs = f"127.0.0.1:{AUTOSCALING_GCS_PORT}"
    (root / "autoscaling.json").write_text(json.dumps(_autoscaling_config(gcs, max_gpu_nodes)))
    token = root / "auth_token"
    token.write_text(secrets.token_hex(32))
    client_env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    tag = new_tag()
    env = {**os.environ, **client_env, TAG_VARIABLE: tag, "RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
    env.pop("RAY_ADDRESS", None)
    _wait_port_free(AUTOSCALING_GCS_PORT)
    head = spawn_logged(
        [
            str(Path(sys.executable).with_name("ray")),
            "start",
            "--head",
            "--block",
            f"--port={AUTOSCALING_GCS_PORT}",
            "--num-cpus=1",
            "--num-gpus=0",
            f"--autoscaling-config={root / 'autoscaling.json'}",
            "--include-dashboard=false",
            f"--dashboard-agent-listen-port={AUTOSCALING_AGENT_PORT}",
            f"--temp-dir={root / 'ray'}",
            "--disable-usage-stats",
        ],
        root / "head.log",
        env=env,
        start_new_session=True,
    )
    try:
        _wait_for_gcs(gcs, client_env, head, root / "head.log")
        yield gcs, client_env
    finally:
        stop_head(head, tag, root, grace=10)


def _wait_for_gcs(gcs: str, env: dict[str, str], head: subprocess.Popen, log: Path) -> None:
    probe = f"import ray; ray.init(address={gcs!r}, log_to_driver=False); ray.shutdown()"
    deadline = time.monotonic() + 120
    while True:
        assert head.poll() is None, log.read_text()[-3000:]
        done = subprocess.run(
            [sys.executable, "-c", probe], env={**os.environ, **env}, capture_output=True, timeout=120
        )
        if done.returncode == 0:
            return
        assert time.monotonic() < deadline, done.stderr.decode()[-3000:]
        time.sleep(1)
