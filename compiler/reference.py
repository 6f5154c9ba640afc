"""The spec language reference (Markdown), generated from schema.json so the two never disagree.

`python -m compiler.reference` prints it; the README includes it.
"""
from __future__ import annotations

from typing import Any

from compiler.validate import load_schema

_KINDS = ["handler", "service", "poll", "train", "deploy", "choice", "wait", "map", "parallel", "pass", "succeed", "fail"]
# Keys most steps share: documented once, then each kind lists only what is its own.
_COMMON = ["name", "comment", "query_language", "next", "end", "input_path", "output_path", "output", "assign",
           "parameters", "arguments", "result_selector", "result_path", "retry", "catch"]


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _type(schema: dict[str, Any], node: dict[str, Any]) -> str:
    """A short human type: `string`, `integer 128–10240`, `bucket | table`, `list of string` …"""
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return {"steps": "list of steps", "retry": "retry rule", "catch": "catch rule"}.get(name, name)
    if "const" in node:
        return f"`{node['const']}`".replace("True", "true")
    if "enum" in node:
        return " \\| ".join(f"`{value}`" for value in node["enum"])
    if "anyOf" in node:
        return " or ".join(_type(schema, option) for option in node["anyOf"])
    kinds = node.get("type")
    if kinds is None:
        return "any"
    names = [kinds] if isinstance(kinds, str) else kinds
    text = " or ".join("mapping" if kind == "object" else kind for kind in names)
    if "array" in names and "items" in node:
        text = text.replace("array", f"list of {_type(schema, node['items'])}")
    if "minimum" in node and "maximum" in node:
        text += f" {node['minimum']}–{node['maximum']}"
    elif "minimum" in node and node["minimum"] > 0:
        text += f" ≥ {node['minimum']}"
    return text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(schema: dict[str, Any], node: dict[str, Any], skip: tuple[str, ...] = ()) -> list[str]:
    node = _resolve(schema, node)
    required = set(node.get("required", []))
    rows = ["| key | type | |", "| --- | --- | --- |"]
    for key, prop in node.get("properties", {}).items():
        if key in skip:
            continue
        marker = " (required)" if key in required else ""
        rows.append(f"| `{key}`{marker} | {_type(schema, prop)} | {_cell(prop.get('description', ''))} |")
    return rows


def render() -> str:
    """The whole reference as Markdown."""
    schema = load_schema()
    defs = schema["$defs"]
    out = ["## Spec reference", "",
           (f"{schema['description']} Point your editor at the schema for completion: "
           "`# yaml-language-server: $schema=../compiler/schema.json`."), "",
           "### Top level", "", *_table(schema, schema), ""]
    out += ["### `parameters.<Name>`", "", defs["parameter"]["description"], "", *_table(schema, defs["parameter"]),
            ""]
    out += ["### `resources.<name>`", "", defs["resource"]["description"], "", *_table(schema, defs["resource"]),
            "", "### `functions`", "", defs["functions"]["description"], "", *_table(schema, defs["functions"]),
            "", "### `trigger`", "", defs["trigger"]["description"], ""]
    for kind, trigger in defs["trigger"]["properties"].items():
        out += [f"#### `trigger.{kind}`", "", trigger["description"], ""]
        options = [option for option in trigger.get("anyOf", [trigger]) if option.get("type") == "object"]
        for option in options:
            out += [*_table(schema, option), ""]
    common = {}
    for kind in _KINDS:
        for key, prop in defs[f"{kind}Step"]["properties"].items():
            if key in _COMMON:
                common.setdefault(key, prop)
    out += ["### Steps", "", defs["step"]["description"], "",
            "Keys most steps take (each kind below lists which of them it accepts):", "",
            "| key | type | |", "| --- | --- | --- |"]
    out += [f"| `{key}` | {_type(schema, common[key])} | {_cell(common[key].get('description', ''))} |"
            for key in _COMMON if key in common]
    out.append("")
    for kind in _KINDS:
        step = defs[f"{kind}Step"]
        shared = [key for key in step["properties"] if key in _COMMON]
        out += [f"#### `{kind}`", "", step["description"], "", "Also takes: " +
                ", ".join(f"`{key}`" for key in shared) + ".", "", *_table(schema, step, skip=tuple(_COMMON)), ""]
        body = _resolve(schema, step["properties"][kind])
        if body.get("type") == "object" and body.get("properties"):
            out += [f"`{kind}:` keys:", "", *_table(schema, body), ""]
        elif body.get("type") == "array" and body.get("items", {}).get("properties"):
            out += [f"Each `{kind}:` item:", "", *_table(schema, body["items"]), ""]
        for option in body.get("anyOf", []):
            if option.get("type") == "object":
                out += [f"`{kind}:` as a mapping:", "", *_table(schema, option), ""]
        if kind == "map":
            out += ["`map.reader`:", "", *_table(schema, body["properties"]["reader"]), "",
                    "`map.batch`:", "", *_table(schema, body["properties"]["batch"]), ""]
    out += ["### Retry and catch rules", "", *_table(schema, defs["retry"]["anyOf"][1]), "",
            defs["retry"]["anyOf"][0]["description"], "", *_table(schema, defs["catch"]), "",
            "### Policy statements (`policies`, `scp`)", "", defs["statement"]["description"], "",
            *_table(schema, defs["statement"]), ""]
    return "\n".join(out)


START, END = "<!-- spec-reference:start -->", "<!-- spec-reference:end -->"


def splice(document: str) -> str:
    """The document with the text between the reference markers replaced by the current reference."""
    head, found_start, rest = document.partition(START)
    _, found_end, tail = rest.partition(END)
    if not (found_start and found_end):
        raise ValueError(f"the document has no {START} … {END} markers")
    return f"{head}{START}\n{render()}\n{END}{tail}"


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["--update"] and len(sys.argv) == 3:
        # `python -m compiler.reference --update README.md` refreshes the README's copy in place.
        target = sys.argv[2]
        with open(target, encoding="utf-8") as f:
            text = f.read()
        with open(target, "w", encoding="utf-8") as f:
            f.write(splice(text))
    else:
        print(render())
