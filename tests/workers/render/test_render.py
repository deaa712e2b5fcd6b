"""PromptRenderer: one prompt per row, row values inert, bad rows flagged alone, stable hashes."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from jinja2 import TemplateSyntaxError

from schemas.manifest import Shard
from workers.io import read_shard
from workers.render import PromptRenderer, check_template, prompt_sha256, template_variables

COLUMNS_ADDED = ["prompt", "prompt_sha256", "error_code", "error_message"]


def _render(template: str, table: pa.Table, *, system: str | None = "Be brief.") -> pa.Table:
    renderer = PromptRenderer(template=template, system=system, variables=sorted(template_variables(template)))
    rendered = renderer.render_table(table)  # the pipeline appends these to the kept input columns
    for name in rendered.column_names:
        table = table.append_column(name, rendered.column(name))
    return table


def _column(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist()


def _invalid_utf8_strings() -> pa.Array:
    """A string array whose second value is not UTF-8 (as Parquet files can hold)."""
    with pytest.raises(pa.ArrowInvalid):
        pa.array([b"ok", b"\xff\xfe"], pa.binary()).cast(pa.string())  # a checked cast refuses it
    return pa.array([b"ok", b"\xff\xfe"], pa.binary()).view(pa.string())


def test_renders_each_row():
    table = pa.table({"id": ["a", "b", "c"], "title": ["One", "Two", "Three"], "score": [1, 2, 3]})
    out = _render("Title: {{ title }} ({{ score }})\n", table)
    assert out.column_names == ["id", "title", "score", *COLUMNS_ADDED]
    assert _column(out, "id") == ["a", "b", "c"]
    assert _column(out, "prompt") == ["Title: One (1)\n", "Title: Two (2)\n", "Title: Three (3)\n"]
    assert _column(out, "prompt_sha256") == [
        prompt_sha256(system="Be brief.", prompt=p) for p in _column(out, "prompt")
    ]
    assert _column(out, "error_code") == [None, None, None]
    assert _column(out, "error_message") == [None, None, None]


def test_empty_table():
    out = _render("{{ title }}", pa.table({"title": pa.array([], pa.string())}))
    assert out.num_rows == 0
    assert out.column_names == ["title", *COLUMNS_ADDED]


def test_row_values_are_inert():
    table = pa.table({"title": ["{{ 7*7 }}", "{% if true %}x{% endif %}"]})
    out = _render("T: {{ title }}", table)
    assert _column(out, "prompt") == ["T: {{ 7*7 }}", "T: {% if true %}x{% endif %}"]
    assert _column(out, "error_code") == [None, None]


def test_null_value_fails_that_row_only():
    table = pa.table({"title": ["One", None, "Three"], "body": ["b1", "b2", None]})
    out = _render("{{ title }}", table)
    assert _column(out, "prompt") == ["One", None, "Three"]
    assert _column(out, "prompt_sha256")[1] is None
    assert _column(out, "error_code") == [None, "template_error", None]
    assert "'title' is undefined" in _column(out, "error_message")[1]


def test_null_value_with_default_filter_renders():
    out = _render("{{ title | default('untitled') }}", pa.table({"title": ["One", None]}))
    assert _column(out, "prompt") == ["One", "untitled"]
    assert _column(out, "error_code") == [None, None]


def test_invalid_utf8_fails_that_row_only():
    table = pa.table({"id": ["a", "b"], "title": _invalid_utf8_strings()})
    out = _render("T: {{ title }}", table)
    assert _column(out, "prompt") == ["T: ok", None]
    assert _column(out, "error_code") == [None, "invalid_text"]
    assert _column(out, "error_message") == [None, "column 'title' is not valid UTF-8 at byte 0"]


def test_invalid_utf8_from_a_parquet_file(tmp_path):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "title": _invalid_utf8_strings()}), path)
    table = read_shard(Shard(index=0, input_file=str(path), row_start=0, row_end=2), columns=["id", "title"])
    assert table.schema.field("title").type == pa.string()
    out = _render("T: {{ title }}", table)
    assert _column(out, "id") == ["a", "b"]
    assert _column(out, "prompt")[0] == "T: ok"
    assert _column(out, "error_code") == [None, "invalid_text"]


def test_invalid_utf8_in_dictionary_column_from_parquet(tmp_path):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"id": ["a", "b"], "title": _invalid_utf8_strings().dictionary_encode()}), path)
    table = read_shard(Shard(index=0, input_file=str(path), row_start=0, row_end=2), columns=["id", "title"])
    assert pa.types.is_dictionary(table.schema.field("title").type)
    out = _render("T: {{ title }}", table)
    assert _column(out, "error_code") == [None, "invalid_text"]


def test_dictionary_column_renders():
    out = _render("T: {{ title }}", pa.table({"title": pa.array(["x", "y", "x"]).dictionary_encode()}))
    assert _column(out, "prompt") == ["T: x", "T: y", "T: x"]


def test_invalid_utf8_in_unused_column_is_ignored():
    table = pa.table({"title": ["One", "Two"], "body": _invalid_utf8_strings()})
    out = _render("{{ title }}", table)
    assert _column(out, "error_code") == [None, None]


def test_binary_column_is_decoded_as_text():
    out = _render("{{ title }}", pa.table({"title": pa.array([b"caf\xc3\xa9", b"\xff"], pa.binary())}))
    assert _column(out, "prompt") == ["café", None]
    assert _column(out, "error_code") == [None, "invalid_text"]


@pytest.mark.parametrize(
    "expression",
    ["title.__class__.__mro__", "title.__class__", "title.upper.__globals__", "title.format.__self__.__class__"],
)
def test_sandbox_blocks_attribute_escape_for_that_row(expression):
    template = "{% if score > 1 %}{{ " + expression + " }}{% else %}{{ title }}{% endif %}"
    out = _render(template, pa.table({"title": ["safe", "probe"], "score": [1, 2]}))
    assert _column(out, "prompt") == ["safe", None]
    assert _column(out, "error_code") == [None, "template_error"]


def test_sandbox_blocks_mro_with_security_error():
    out = _render("{{ title.__class__.__mro__ }}", pa.table({"title": ["x"]}))
    assert _column(out, "error_code") == ["template_error"]
    assert _column(out, "error_message")[0].startswith("SecurityError: ")


def test_prompt_sha256_is_stable_and_covers_system():
    expected = hashlib.sha256(b"Be brief.\x00Summarize: One").hexdigest()
    assert prompt_sha256(system="Be brief.", prompt="Summarize: One") == expected
    assert prompt_sha256(system="Be long.", prompt="Summarize: One") != expected
    assert prompt_sha256(system="Be brief.", prompt="Summarize: Two") != expected
    assert prompt_sha256(system=None, prompt="x") == hashlib.sha256(b"\x00x").hexdigest()
    # The separator keeps (system, prompt) pairs apart that concatenate to the same text.
    assert prompt_sha256(system="ab", prompt="c") != prompt_sha256(system="a", prompt="bc")


def test_renderer_hashes_change_with_system_prompt():
    table = pa.table({"title": ["One", "Two"]})
    first = _column(_render("{{ title }}", table, system="A"), "prompt_sha256")
    again = _column(_render("{{ title }}", table, system="A"), "prompt_sha256")
    other = _column(_render("{{ title }}", table, system="B"), "prompt_sha256")
    assert first == again
    assert len(set(first)) == 2
    assert all(a != b for a, b in zip(first, other, strict=True))


def test_template_variables():
    template = (
        "{{ title }} {{ body | upper }} {% for tag in tags %}{{ tag }}{{ loop.index }}{% endfor %}"
        "{% set n = 3 %}{{ n }} {{ range(2) | list }} {% if score > 1 %}{{ author.name }}{% endif %}"
    )
    assert template_variables(template) == {"title", "body", "tags", "score", "author"}
    assert template_variables("no variables") == set()
    with pytest.raises(TemplateSyntaxError):
        template_variables("{{ title")


def test_check_template():
    assert check_template("{{ title }}") is None
    assert check_template("") is None
    assert check_template("a\n{{ title") == "line 2: unexpected end of template, expected 'end of print statement'."
    assert check_template("{{ title | nosuchfilter }}") == "line 1: No filter named 'nosuchfilter'."
