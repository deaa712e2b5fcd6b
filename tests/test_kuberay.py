"""The KubeRay manifests: every ray.io document under k8s/ valid against KubeRay's own CRDs (read
from ../shared/kuberay/, with unknown fields as errors, as `kubectl apply` treats them), kinds and
API versions, the entrypoints parsed by pressroom's own command line, the embedded spec valid, and
node groups that agree with cluster.yaml's node types."""

from __future__ import annotations

import copy
import shlex
from functools import cache
from pathlib import Path

import jsonschema
import pytest
import yaml

from jobs.cli.main import build_parser
from schemas.spec import JobSpec

ROOT = Path(__file__).resolve().parent.parent
# KubeRay v1.7.0's CRDs: beside the project (CI and every developer have them), never copied in.
CRDS = Path(__file__).resolve().parents[1].parent / "shared" / "kuberay"
KINDS = {
    "rayjob.yaml": {("v1", "ConfigMap"), ("ray.io/v1", "RayJob")},
    "raycronjob.yaml": {("ray.io/v1", "RayCronJob")},
}


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


def ray_documents() -> list[tuple[str, dict]]:
    """(file, document) for every document under k8s/ whose apiVersion is ray.io/*."""
    return [
        (path.name, doc)
        for path in sorted((ROOT / "k8s").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc["apiVersion"].startswith("ray.io/")
    ]


def strict(schema: dict) -> dict:
    """A CRD's OpenAPI v3 schema as JSON Schema with unknown fields as errors.

    CRD schemas leave additionalProperties unset (the API server prunes, or under strict field
    validation refuses, what they do not name): every object schema that names its properties gets
    additionalProperties false, unless it keeps unknown fields on purpose.
    """
    out = dict(schema)
    if "properties" in schema:
        out["properties"] = {name: strict(sub) for name, sub in schema["properties"].items()}
    for key in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(key), dict):
            out[key] = strict(schema[key])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in schema:
            out[key] = [strict(sub) for sub in schema[key]]
    if schema.get("x-kubernetes-int-or-string") and "anyOf" not in schema:
        out.pop("type", None)  # a quantity or a port may be 8 or "8"
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if (
        "properties" in schema
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    return out


@cache
def validators() -> dict[tuple[str, str], jsonschema.Draft4Validator]:
    """(apiVersion, kind) -> a strict validator, for every version of every CRD in CRDS."""
    if not CRDS.is_dir() or not list(CRDS.glob("*.yaml")):
        pytest.fail(
            f"KubeRay's CRDs are missing: expected ray.io_*.yaml in {CRDS} (../shared/kuberay/ beside "
            "the project, as CI has it); the manifests cannot be checked without them"
        )
    out = {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the CRDs are 2 MB of YAML
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.load(path.read_text(), Loader=loader)
        spec = crd["spec"]
        for version in spec["versions"]:
            # OpenAPI v3's schema object is JSON Schema draft 4's (x-kubernetes-* keywords ignored).
            schema = strict(version["schema"]["openAPIV3Schema"])
            out[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = jsonschema.Draft4Validator(schema)
    return out


def crd_errors(doc: dict) -> list[str]:
    """What KubeRay's CRD for this document's apiVersion and kind refuses in it ("path: message")."""
    key = (doc["apiVersion"], doc["kind"])
    assert key in validators(), f"no CRD in {CRDS} for {key}; it has {sorted(validators())}"
    errors = sorted(validators()[key].iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]


def test_every_ray_manifest_is_checked():
    assert {(name, doc["kind"]) for name, doc in ray_documents()} == {
        ("rayjob.yaml", "RayJob"),
        ("raycronjob.yaml", "RayCronJob"),
    }


@pytest.mark.parametrize(("name", "doc"), ray_documents(), ids=lambda v: v if isinstance(v, str) else v["kind"])
def test_manifests_are_valid_against_kuberays_crds(name, doc):
    assert crd_errors(doc) == []


def cron_document() -> dict:
    (doc,) = [doc for name, doc in ray_documents() if doc["kind"] == "RayCronJob"]
    return copy.deepcopy(doc)


def test_unknown_fields_fail_validation():
    # The manifest as it was: RayCronJob v1.7.0 has no concurrencyPolicy, so `kubectl apply` refused it.
    doc = cron_document()
    doc["spec"]["concurrencyPolicy"] = "Forbid"
    assert crd_errors(doc) == ["spec: Additional properties are not allowed ('concurrencyPolicy' was unexpected)"]
    # Strict at every depth: a misspelt container field inside the job template's pod.
    doc = cron_document()
    head = doc["spec"]["jobTemplate"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    head["imagePullPolicyy"] = "Always"
    assert crd_errors(doc) == [
        (
            "spec.jobTemplate.rayClusterSpec.headGroupSpec.template.spec.containers.0: "
            "Additional properties are not allowed ('imagePullPolicyy' was unexpected)"
        )
    ]


def test_int_or_string_fields_take_either_and_nothing_else():
    doc = cron_document()
    limits = doc["spec"]["jobTemplate"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0][
        "resources"
    ]["limits"]
    limits["cpu"] = 8
    assert crd_errors(doc) == []
    limits["cpu"] = 8.5
    (error,) = crd_errors(doc)
    assert error.startswith(
        "spec.jobTemplate.rayClusterSpec.headGroupSpec.template.spec.containers.0.resources."
        "limits.cpu: 8.5 is not valid"
    )
