"""load_spec: validation with file-and-field messages, path resolution, presets, fingerprint."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.errors import SpecError
from jobs.spec import PRESETS, load_spec, spec_fingerprint
from tests.builders import make_model_dir, spec_dict, write_spec


def _spec(**sections) -> dict:
    return spec_dict(input_uri="data/articles.parquet", output_uri="out", model_source="./model", **sections)


@pytest.fixture
def spec_dir(tmp_path) -> Path:
    """A spec directory holding a model stand-in; the working directory is elsewhere."""
    root = tmp_path / "specs"
    make_model_dir(root / "model")
    return root


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path, monkeypatch):
    # Relative paths must resolve against the spec's directory, never the working directory.
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)


def _error(path: Path) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.exit_code == 2
    return str(info.value)


def test_relative_paths_resolve_against_spec_directory(spec_dir):
    path = write_spec(spec_dir / "job.yaml", _spec())
    spec = load_spec(path)
    base = spec_dir.resolve()
    assert spec.input.uri == str(base / "data" / "articles.parquet")
    assert spec.output.uri == str(base / "out")
    assert spec.model.source == str(base / "model")
    assert spec.name == "tiny-summaries"
    assert spec.input.columns == ["title", "score"]
    assert spec.input.rows_per_shard == 4


def test_bare_relative_model_directory_resolves_and_hub_id_stays(spec_dir):
    spec = load_spec(write_spec(spec_dir / "a.yaml", _spec(model={"source": "model"})))
    assert spec.model.source == str(spec_dir.resolve() / "model")
    spec = load_spec(write_spec(spec_dir / "b.yaml", _spec(model={"source": "HuggingFaceTB/SmolLM2-135M"})))
    assert spec.model.source == "HuggingFaceTB/SmolLM2-135M"
    spec = load_spec(write_spec(spec_dir / "c.yaml", _spec(model={"source": "default"})))
    assert spec.model.source == "default"


def test_absolute_paths_and_uris_are_kept(spec_dir, tmp_path):
    absolute = str(tmp_path / "elsewhere" / "in.parquet")
    path = write_spec(spec_dir / "job.yaml", _spec(input={"uri": absolute}, output={"uri": "s3://bucket/out"}))
    spec = load_spec(path)
    assert spec.input.uri == absolute
    assert spec.output.uri == "s3://bucket/out"


def test_output_uri_override_replaces_output(spec_dir, tmp_path):
    override = str(tmp_path / "override")
    spec = load_spec(write_spec(spec_dir / "job.yaml", _spec()), output_uri=override)
    assert spec.output.uri == override


def test_output_uri_override_fills_a_missing_output_section(spec_dir, tmp_path):
    raw = _spec()
    del raw["output"]
    path = write_spec(spec_dir / "job.yaml", raw)
    assert "output" in _error(path)
    assert load_spec(path, output_uri=str(tmp_path / "o")).output.uri == str(tmp_path / "o")


@pytest.mark.parametrize(
    ("sections", "field"),
    [
        ({"colour": "blue"}, "colour"),
        ({"sampling": {"temprature": 0.7}}, "sampling.temprature"),
        ({"input": {"id_colum": "id"}}, "input.id_colum"),
    ],
)
def test_unknown_key_names_file_and_dotted_field(spec_dir, sections, field):
    path = write_spec(spec_dir / "job.yaml", _spec(**sections))
    message = _error(path)
    assert str(path) in message
    assert f"{field}: unknown key" in message


def test_bad_name(spec_dir):
    path = write_spec(spec_dir / "job.yaml", _spec(name="bad name!"))
    message = _error(path)
    assert str(path) in message
    assert "  name: String should match pattern" in message


def test_custom_kind_needs_prompt(spec_dir):
    path = write_spec(spec_dir / "job.yaml", _spec(task={"kind": "custom", "system": None, "prompt": None}))
    message = _error(path)
    assert str(path) in message
    assert "task:" in message and "set task.prompt" in message


def test_broken_template_names_task_prompt(spec_dir):
    path = write_spec(spec_dir / "job.yaml", _spec(task={"prompt": "Summarize {{ title"}))
    message = _error(path)
    assert str(path) in message
    assert "task.prompt: template error at line 1" in message


def test_unknown_filter_is_a_template_error(spec_dir):
    path = write_spec(spec_dir / "job.yaml", _spec(task={"prompt": "{{ title | shout }}"}))
    assert "task.prompt: template error" in _error(path)


@pytest.mark.parametrize("replicas", [[3, 1], [0, 2], 0])
def test_invalid_replicas(spec_dir, replicas):
    path = write_spec(spec_dir / "job.yaml", _spec(resources={"replicas": replicas}))
    message = _error(path)
    assert "resources.replicas" in message


def test_replica_range(spec_dir):
    spec = load_spec(write_spec(spec_dir / "a.yaml", _spec(resources={"replicas": [1, 3]})))
    assert spec.resources.replica_range == (1, 3)
    spec = load_spec(write_spec(spec_dir / "b.yaml", _spec(resources={"replicas": 2})))
    assert spec.resources.replica_range == (2, 2)


def test_preset_fills_system_and_prompt(spec_dir):
    path = write_spec(spec_dir / "job.yaml", _spec(task={"kind": "summary", "system": None, "prompt": None}))
    spec = load_spec(path)
    assert spec.task.system == PRESETS["summary"].system
    assert spec.task.prompt == PRESETS["summary"].prompt
    assert "{{ text }}" in spec.task.prompt


def test_spec_overrides_preset(spec_dir):
    path = write_spec(spec_dir / "job.yaml", _spec(task={"kind": "summary", "system": "Mine.", "prompt": None}))
    spec = load_spec(path)
    assert spec.task.system == "Mine."
    assert spec.task.prompt == PRESETS["summary"].prompt


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    message = _error(path)
    assert message == f"job spec not found: {path}"


@pytest.mark.parametrize(("text", "kind"), [("- a\n- b\n", "list"), ("just text\n", "str"), ("", "NoneType")])
def test_non_mapping_yaml(tmp_path, text, kind):
    path = write_spec(tmp_path / "job.yaml", text)
    message = _error(path)
    assert str(path) in message
    assert f"must be a YAML mapping, got {kind}" in message


def test_invalid_yaml(tmp_path):
    path = write_spec(tmp_path / "job.yaml", "name: [unclosed\n")
    message = _error(path)
    assert f"job spec {path} is not valid YAML" in message


def test_spec_path_is_a_directory(tmp_path):
    assert str(tmp_path) in _error(tmp_path)


def test_spec_file_not_utf8(tmp_path):
    path = tmp_path / "job.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    assert str(path) in _error(path)


def test_fingerprint_equal_for_identical_specs_ignoring_output(spec_dir):
    first = load_spec(write_spec(spec_dir / "a.yaml", _spec()))
    second = load_spec(write_spec(spec_dir / "b.yaml", _spec(output={"uri": "/somewhere/else"})))
    third = load_spec(write_spec(spec_dir / "c.yaml", _spec()), output_uri="s3://bucket/x")
    assert first.output.uri != second.output.uri
    fingerprint = spec_fingerprint(first)
    assert len(fingerprint) == 64 and int(fingerprint, 16) >= 0
    assert spec_fingerprint(second) == fingerprint
    assert spec_fingerprint(third) == fingerprint
    assert spec_fingerprint(load_spec(spec_dir / "a.yaml")) == fingerprint


@pytest.mark.parametrize(
    "sections",
    [
        {"sampling": {"temperature": 0.7}},
        {"sampling": {"max_tokens": 9}},
        {"task": {"prompt": "Summarize: {{ title }}"}},
        {"input": {"rows_per_shard": 5}},
        {"model": {"source": "HuggingFaceTB/SmolLM2-135M"}},
    ],
)
def test_fingerprint_changes_with_what_is_generated(spec_dir, sections):
    base = spec_fingerprint(load_spec(write_spec(spec_dir / "a.yaml", _spec())))
    changed = spec_fingerprint(load_spec(write_spec(spec_dir / "b.yaml", _spec(**sections))))
    assert changed != base


def test_home_relative_model_source_expands(spec_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    make_model_dir(tmp_path / "home" / "models" / "tiny")
    spec = load_spec(write_spec(spec_dir / "job.yaml", _spec(model={"source": "~/models/tiny"})))
    assert spec.model.source == str(tmp_path / "home" / "models" / "tiny")


def test_home_relative_output_uri_expands(spec_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    spec = load_spec(write_spec(spec_dir / "job.yaml", _spec(output={"uri": "~/out"})))
    assert spec.output.uri == str(tmp_path / "home" / "out")


def test_every_error_at_once_in_words_with_the_closest_key_and_the_gates_scale(spec_dir):
    spec = _spec(
        sampling={"max_token": 5, "temperature": "hot"},
        resources={"replicas": 1.5},
        quality={"reference_column": "body", "gate": {"min_chrf": 30, "min_bleu": 0.05, "max_error_rate": 5}},
        outptu={},
    )
    spec["input"]["columns"] = "title"
    lines = _error(write_spec(spec_dir / "job.yaml", spec)).splitlines()[1:]
    assert lines == [
        "  input.columns: should be a list, got 'title'",
        "  sampling.temperature: should be a number, got 'hot'",
        "  sampling.max_token: unknown key; did you mean max_tokens?",
        "  resources.replicas: should be a whole number or a list, got 1.5",
        # chrF 30 on sacrebleu's 0-100 would be a gate no run passes: every score is 0-1 here.
        "  quality.gate.min_chrf: chrF is on 0-1 in pressroom: did you mean 0.30?",
        "  quality.gate.max_error_rate: the error rate is on 0-1 in pressroom: did you mean 0.05?",
        "  outptu: unknown key; did you mean output?",
    ]
