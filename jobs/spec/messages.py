"""Spec validation errors in words a spec's author reads: every error at once, the closest key for
a typo, expected types named plainly (not pydantic's internal model names)."""

from __future__ import annotations

import types
import typing
from difflib import get_close_matches
from pathlib import Path

from pydantic import BaseModel, ValidationError

# pydantic's error type -> what the value should have been.
EXPECTED = {
    "model_type": "a mapping (indented key: value lines)",
    "model_attributes_type": "a mapping (indented key: value lines)",
    "dict_type": "a mapping (indented key: value lines)",
    "list_type": "a list",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "tuple_type": "a list",
}


def describe(path: Path, error: ValidationError, model: type[BaseModel]) -> str:
    """One line per wrong value under the spec's path (a value that fits none of a union's members
    is one line naming them all)."""
    messages: dict[str, list[str]] = {}
    for item in error.errors():
        loc = _field_loc(model, item["loc"])
        field = ".".join(str(part) for part in loc) or "(top level)"
        message = _message({**item, "loc": loc} if loc != item["loc"] else item, model)
        if message not in messages.setdefault(field, []):
            messages[field].append(message)
    lines = [f"invalid job spec {path}:"]
    for field, found in messages.items():
        lines.append(f"  {field}: {_joined(found)}")
    return "\n".join(lines)


def _joined(messages: list[str]) -> str:
    """Union members' "should be X, got V" lines as one "should be X or Y, got V"."""
    if len(messages) > 1 and all(m.startswith("should be ") and ", got " in m for m in messages):
        got = messages[0].rsplit(", got ", 1)[1]
        return (
            "should be " + " or ".join(m[len("should be ") :].rsplit(", got ", 1)[0] for m in messages) + f", got {got}"
        )
    return "; ".join(messages)


def _field_loc(model: type[BaseModel], loc: tuple) -> tuple:
    """loc without the member tag pydantic appends for a value that fits none of a union's types."""
    current: object = model
    for depth, part in enumerate(loc):
        found = _model_in(current)
        if found is not None and isinstance(part, str) and part in found.model_fields:
            current = found.model_fields[part].annotation
        elif typing.get_origin(current) in (typing.Union, types.UnionType) and found is None:
            return loc[:depth]  # `part` names a member type of a union of plain types
        elif isinstance(part, str) and found is not None:
            return loc  # an unknown key, reported as such
        else:
            current = _item_type(current)  # a list index or a mapping's key
    return loc


def _item_type(annotation: object) -> object:
    args = typing.get_args(annotation)
    return args[-1] if args else annotation


def _message(item: dict, model: type[BaseModel]) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        known = _keys_at(model, item["loc"][:-1])
        close = get_close_matches(str(item["loc"][-1]), known, n=1, cutoff=0.6)
        return "unknown key" + (f"; did you mean {close[0]}?" if close else f" (known here: {', '.join(known)})")
    if kind in EXPECTED:
        return f"should be {EXPECTED[kind]}, got {_shown(item.get('input'))}"
    if kind == "value_error":
        return item["msg"].removeprefix("Value error, ")
    return item["msg"]


def _shown(value) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _keys_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys a mapping at `loc` may hold (empty when the path leaves the models)."""
    current: object = model
    for part in loc:
        current = _model_in(current)
        if current is None:
            return []
        if isinstance(part, int):
            continue  # a list item: the list's model was found above
        field = current.model_fields.get(part)
        if field is None:
            return []
        current = field.annotation
    found = _model_in(current)
    return sorted(found.model_fields) if found else []


def _model_in(annotation: object) -> type[BaseModel] | None:
    """The pydantic model an annotation holds: itself, or inside Optional[...], list[...], dict[str, ...]."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, list, tuple, dict, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
