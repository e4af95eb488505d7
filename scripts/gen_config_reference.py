"""Generate the configuration reference in docs/service.md from the Settings model, so it cannot
go stale: every key, its type and bounds, its default, its environment variable and its docstring.

    .venv/bin/python scripts/gen_config_reference.py          # rewrite the block in the page
    .venv/bin/python scripts/gen_config_reference.py --check  # exit 1 if the page is stale

The reference lives between ``<!-- config-reference -->`` and ``<!-- /config-reference -->`` in
docs/service.md; the rest of the page is written by hand. tests/test_server.py runs the check.
"""

from __future__ import annotations

import ast
import inspect
import itertools
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from sessionful.service.config import Settings

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "service.md"
BEGIN, END = "<!-- config-reference -->", "<!-- /config-reference -->"
ENV_PREFIX = "SESSIONFUL_"


def attribute_docs(cls: type) -> dict[str, str]:
    """The docstrings written under a class's attributes (``x: int = 1`` then ``\"\"\"...\"\"\"``),
    for the class and its bases, read from the source."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or klass.__module__.startswith(("pydantic", "builtins")):
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        body = ast.parse(source).body[0]
        assert isinstance(body, ast.ClassDef)
        statements = body.body
        for first, second in itertools.pairwise(statements):
            if (
                isinstance(first, ast.AnnAssign)
                and isinstance(first.target, ast.Name)
                and isinstance(second, ast.Expr)
                and isinstance(second.value, ast.Constant)
                and isinstance(second.value.value, str)
            ):
                docs[first.target.id] = inspect.cleandoc(second.value.value)
    return docs


def _md(text: str) -> str:
    """Docstring text for one table cell: reST literals as Markdown code, one line, pipes
    escaped."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    text = text.replace("``", "`")
    text = " ".join(text.split())
    return text.replace("|", "\\|")


def _type(schema: dict[str, Any]) -> str:
    """A JSON-schema property as a short type: ``int ≥ 1``, ``float > 0 or none``..."""
    if "anyOf" in schema:
        parts = [_type(option) for option in schema["anyOf"]]
        return " or ".join(parts)
    if "enum" in schema:
        return " or ".join(f'`"{value}"`' for value in schema["enum"])
    if schema.get("x-duration"):  # seconds, or text with a unit
        schema = {**schema, "type": "duration"}
    kind = {
        "duration": "duration",
        "string": "string",
        "integer": "int",
        "number": "float",
        "boolean": "bool",
        "null": "none",
        "array": "array",
        "object": "table",
    }.get(schema.get("type", ""), "any")
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        return f"{kind} {low} to {high}"
    bounds = []
    for key, sign in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("gt", ">"),
        ("ge", "≥"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
        ("lt", "<"),
        ("le", "≤"),
    ):
        if key in schema:
            bounds.append(f"{sign} {schema[key]}")
    return f"{kind} {' '.join(bounds)}".strip()


def _toml(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, (int, float)):
        return f"`{value:_}`" if isinstance(value, int) and abs(value) >= 10_000 else f"`{value}`"
    if isinstance(value, dict) and not value:
        return "`{}`"
    if isinstance(value, list) and not value:
        return "`[]`"
    return "see below"


def _default(field: FieldInfo) -> Any:
    if field.default_factory is not None:
        return field.default_factory()  # type: ignore[call-arg]
    return None if field.default is PydanticUndefined else field.default


def _required(field: FieldInfo) -> bool:
    return field.default is PydanticUndefined and field.default_factory is None


def _table(model: type[BaseModel], env: str, schema: dict[str, Any]) -> list[str]:
    docs = attribute_docs(model)
    rows = ["| key | type | default | environment | meaning |", "| --- | --- | --- | --- | --- |"]
    for name, field in model.model_fields.items():
        prop = schema.get("properties", {}).get(name, {})
        default = "**required**" if _required(field) else _toml(_default(field))
        variable = f"`{env}{name.upper()}`" if env else "—"
        meaning = _md(docs.get(name, "")) or "—"
        rows.append(f"| `{name}` | {_type(prop)} | {default} | {variable} | {meaning} |")
    return rows


def _intro(model: type[BaseModel]) -> str:
    return _md(inspect.cleandoc(model.__doc__ or ""))


def render() -> str:
    """The generated block, markers included."""
    schema = Settings.model_json_schema()
    defs = schema.get("$defs", {})
    docs = attribute_docs(Settings)
    top: list[str] = []
    sections: list[tuple[str, type[BaseModel], bool]] = []
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        inner = getattr(annotation, "__args__", (None,))[0]
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            sections.append((name, annotation, False))
        elif isinstance(inner, type) and issubclass(inner, BaseModel):
            sections.append((name, inner, True))
        else:
            top.append(name)

    out = [
        BEGIN,
        "<!-- Generated by scripts/gen_config_reference.py from the Settings model in "
        "core/src/sessionful/service/config.py. Do not edit by hand. -->",
        "",
        "### Top level",
        "",
        _intro(Settings),
        "",
        "| key | type | default | environment | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in top:
        field = Settings.model_fields[name]
        prop = schema["properties"][name]
        meaning = _md(docs.get(name, "")) or "—"
        out.append(
            f"| `{name}` | {_type(prop)} | {_toml(_default(field))} | "
            f"`{ENV_PREFIX}{name.upper()}` | {meaning} |"
        )
    for name, model, is_array in sections:
        header = f"[[{name}]]" if is_array else f"[{name}]"
        prop = schema["properties"][name]
        ref = (prop.get("items", prop)).get("$ref", "").rsplit("/", 1)[-1]
        sub = defs.get(ref, {})
        out += ["", f"### `{header}`", "", _intro(model)]
        field_doc = docs.get(name)
        if field_doc:
            out += ["", _md(field_doc)]
        if is_array:
            out += [
                "",
                f"Set the whole list from the environment as JSON: `{ENV_PREFIX}{name.upper()}`.",
                "",
                *_table(model, "", sub),
            ]
        else:
            out += ["", *_table(model, f"{ENV_PREFIX}{name.upper()}__", sub)]
    out.append(END)
    return "\n".join(out) + "\n"


def spliced(page: str) -> str:
    """``page`` with its generated block replaced by a fresh one."""
    start, end = page.find(BEGIN), page.find(END)
    if start < 0 or end < 0:
        raise SystemExit(f"{OUTPUT.relative_to(ROOT)} has no {BEGIN} ... {END} block")
    return page[:start] + render() + page[end + len(END) + 1 :]


def main(argv: list[str]) -> int:
    page = OUTPUT.read_text(encoding="utf-8")
    fresh = spliced(page)
    if "--check" in argv:
        if fresh != page:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run scripts/gen_config_reference.py")
            return 1
        return 0
    OUTPUT.write_text(fresh, encoding="utf-8")
    print(f"wrote the configuration reference in {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
