"""The Dockerfile at the repository root agrees with what it packages and with who runs it.

No image can be built here (no Docker in CI either), so the checks are textual: the base image is
Ray's own image of the Ray version pyproject.toml pins and of the Python it requires, the install
line takes the extras `make setup` takes on a GPU machine (less the test tools), and every image
that k8s/ and cluster.yaml name is the one tag the Dockerfile's build command writes.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Ray names its images <ray version>-py<major><minor>-<gpu|cpu|cuXYZ>.
BASE = re.compile(r"^FROM rayproject/ray:(?P<ray>\d+\.\d+\.\d+)-py(?P<py>3\d+)-gpu$", re.MULTILINE)
BUILD = re.compile(r"^#\s+docker build -t (?P<tag>\S+) \.$", re.MULTILINE)


def base() -> re.Match:
    (match,) = list(BASE.finditer(DOCKERFILE))
    return match


def image_tag() -> str:
    (match,) = list(BUILD.finditer(DOCKERFILE))
    return match["tag"]


def extras(install_target: str) -> set[str]:
    """`.[a,b]` or `'.[a,b]'` -> {"a", "b"}."""
    match = re.fullmatch(r"'?\.\[([^\]]*)\]'?", install_target)
    assert match, install_target
    return set(match.group(1).split(","))


def k8s_images() -> list[str]:
    """Every container image named in k8s/, wherever it sits in a document."""
    found = []

    def walk(node) -> None:
        if isinstance(node, dict):
            found.extend(value for key, value in node.items() if key == "image")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted((ROOT / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            walk(doc)
    return found


def test_ray_version_is_pyprojects_pin_and_the_clusters():
    (pin,) = [
        m.group(1)
        for dep in PYPROJECT["project"]["dependencies"]
        if (m := re.fullmatch(r"ray\[[^\]]*\]==(\S+)", dep.split(";")[0].strip()))
    ]
    assert base()["ray"] == pin == "2.60.0"
    cluster = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    setup_pins = re.findall(r"\bray(?:\[[^\]]*\])?==([0-9][0-9a-z.]*)", "\n".join(cluster["setup_commands"]))
    assert setup_pins == [pin]
    ray_versions = [
        doc["spec"].get("jobTemplate", doc["spec"])["rayClusterSpec"]["rayVersion"]
        for path in sorted((ROOT / "k8s").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc["kind"] in {"RayJob", "RayCronJob"}
    ]
    assert ray_versions == [pin, pin]


def test_python_version_is_what_pyproject_requires():
    required = re.fullmatch(r">=\s*(3)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert required, PYPROJECT["project"]["requires-python"]
    assert base()["py"] == "".join(required.groups()) == "311"


def test_install_line_takes_the_makefiles_gpu_extras_without_the_test_tools():
    (install,) = re.findall(r"^RUN pip install --no-cache-dir (\S+)$", DOCKERFILE, re.MULTILINE)
    makefile = (ROOT / "Makefile").read_text()
    (make_install,) = re.findall(r"\$\(BIN\)/pip install -e (\S+)$", makefile, re.MULTILINE)
    gpu_branch = extras(make_install.replace("$(ENGINE_EXTRA)", "gpu"))
    assert gpu_branch == {"gpu", "hf", "test"}
    assert extras(install) == gpu_branch - {"test"} == {"gpu", "hf"}
    assert set(PYPROJECT["project"]["optional-dependencies"]) >= gpu_branch


def test_every_image_reference_is_the_dockerfiles_tag():
    tag = image_tag()
    assert tag == f"ghcr.io/pressroom/pressroom:{PYPROJECT['project']['version']}-gpu"
    assert k8s_images() == [tag] * 4  # head and GPU workers of the RayJob and of the RayCronJob
    docker = yaml.safe_load((ROOT / "cluster.yaml").read_text())["docker"]
    assert [docker[key] for key in ("image", "head_image", "worker_image") if key in docker] == [tag]
    # The build commands written in comments name the same tag.
    for path in [ROOT / "cluster.yaml", *sorted((ROOT / "k8s").glob("*.yaml"))]:
        for named in re.findall(r"docker (?:build -t|push) (\S+)", path.read_text()):
            assert named == tag, path.name


def test_build_context_leaves_out_the_virtualenv_and_outputs():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".git", "out"} <= ignored
