"""The schema documents itself: every property has a description, and the reference shows them all."""
from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from compiler.reference import render
from compiler.validate import load_schema


def properties(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        for key, prop in node.get("properties", {}).items():
            found.append((f"{path}.{key}", prop))
        for key, child in node.items():
            if key == "if":  # conditions of if/then, not documented properties
                continue
            found.extend(properties(child, f"{path}.{key}" if key != "properties" else path))
    elif isinstance(node, list):
        for child in node:
            found.extend(properties(child, path))
    return found


def test_schema_is_valid_draft_2020_12() -> None:
    Draft202012Validator.check_schema(load_schema())


def test_every_property_has_a_description() -> None:
    missing = sorted({path for path, prop in properties(load_schema()) if "description" not in prop})
    assert missing == []


def test_reference_covers_every_step_kind_and_top_level_key() -> None:
    text = render()
    for kind in ("handler", "service", "poll", "choice", "wait", "map", "parallel", "pass", "succeed", "fail"):
        assert f"#### `{kind}`" in text
    for key in load_schema()["properties"]:
        assert f"| `{key}`" in text
    assert "| `every` | integer ≥ 1 | Seconds to wait between calls. |" in text
    assert "| `type` (required) | `bucket` \\| `table` \\| `topic`" in text


def test_readme_carries_the_current_reference() -> None:
    # The README's spec reference is generated: `python -m compiler.reference --update README.md`.
    from pathlib import Path

    from compiler.reference import splice

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    assert splice(readme) == readme, "README.md's spec reference is stale: run python -m compiler.reference --update README.md"
