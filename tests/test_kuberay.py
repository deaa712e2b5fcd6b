"""The KubeRay manifests: no CRD schema installs here, so the checks are ours: kinds and API
versions, the entrypoints parsed by pressroom's own command line, the embedded spec valid, and
node groups that agree with cluster.yaml's node types."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from jobs.cli.main import build_parser
from schemas.spec import JobSpec

ROOT = Path(__file__).resolve().parent.parent
KINDS = {"rayjob.yaml": {("v1", "ConfigMap"), ("ray.io/v1", "RayJob")},
         "raycronjob.yaml": {("ray.io/v1", "RayCronJob")}}


def documents(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((ROOT / "k8s" / name).read_text()) if d]


def job_specs() -> list[tuple[str, dict]]:
    """(file, RayJob spec) for the RayJob and the RayCronJob's job template."""
    out = []
    for name in KINDS:
        for doc in documents(name):
            if doc["kind"] == "RayJob":
                out.append((name, doc["spec"]))
            elif doc["kind"] == "RayCronJob":
                out.append((name, doc["spec"]["jobTemplate"]))
    return out


@pytest.mark.parametrize("name", sorted(KINDS))
def test_kinds_and_api_versions(name):
    assert {(d["apiVersion"], d["kind"]) for d in documents(name)} == KINDS[name]


@pytest.mark.parametrize(("name", "job"), job_specs())
def test_entrypoints_are_pressroom_commands(name, job):
    argv = shlex.split(job["entrypoint"])
    assert argv[0] == "pressroom"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "run" and args.json
    spec_path = Path(args.spec)
    (config,) = [d for d in documents("rayjob.yaml") if d["kind"] == "ConfigMap"]
    mounts = job["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    assert str(spec_path.parent) in {m["mountPath"] for m in mounts}
    spec = JobSpec.model_validate(yaml.safe_load(config["data"][spec_path.name]))
    if name == "raycronjob.yaml":  # the cron claims its slot: a double tick can never run a night twice
        assert args.slot == "latest" and spec.schedule is not None
        cron = next(d for d in documents(name) if d["kind"] == "RayCronJob")["spec"]
        assert (cron["schedule"], cron["timeZone"]) == (spec.schedule.cron, spec.schedule.timezone)
    assert spec.output.uri.startswith("s3://")  # pods share no disk


@pytest.mark.parametrize(("name", "job"), job_specs())
def test_node_groups_match_cluster_yaml(name, job):
    cluster = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    types = cluster["available_node_types"]
    ray_cluster = job["rayClusterSpec"]
    assert ray_cluster["enableInTreeAutoscaling"] is True
    assert ray_cluster["rayVersion"] == __import__("ray").__version__
    head = ray_cluster["headGroupSpec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    head_type = types[cluster["head_node_type"]]
    assert int(head["cpu"]) == head_type["resources"]["CPU"] and "nvidia.com/gpu" not in head
    for group in ray_cluster["workerGroupSpecs"]:
        node_type = types[group["groupName"]]
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert int(limits["cpu"]) == node_type["resources"]["CPU"]
        assert int(limits.get("nvidia.com/gpu", 0)) == node_type["resources"].get("GPU", 0)
        assert (group["minReplicas"], group["maxReplicas"]) == (node_type["min_workers"], node_type["max_workers"])
