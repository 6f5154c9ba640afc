"""Write the compiled artefacts: build/template.yaml (CloudFormation short-form tags) and
build/statemachines/<workflow>.asl.json. Output is deterministic and every file is replaced atomically.

YAML comments are not data, so the template carries its explanations as data (the Metadata of a role
with a `*` resource) and this module renders them as `# …` comments above the statements they explain.
`load_template` reads the short-form tags back into the same data (for tests and for the engine).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

# Intrinsics that have a short form (`!Name`). Condition functions included.
_SHORT_FORMS = ("Ref", "Condition", "Fn::Base64", "Fn::Cidr", "Fn::FindInMap", "Fn::GetAtt", "Fn::GetAZs",
                "Fn::ImportValue", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::Sub", "Fn::Transform",
                "Fn::And", "Fn::Equals", "Fn::If", "Fn::Not", "Fn::Or", "Fn::ToJsonString", "Fn::Length")
WILDCARD_METADATA = "StepsmithWildcardResources"


class _Tagged:
    """A value to be written with a short-form tag."""

    def __init__(self, tag: str, value: Any) -> None:
        self.tag = tag
        self.value = value


def _is_intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in _SHORT_FORMS


def _to_tagged(value: Any) -> Any:
    """Replace intrinsic dicts with _Tagged nodes, bottom up."""
    if isinstance(value, list):
        return [_to_tagged(item) for item in value]
    if not isinstance(value, dict):
        return value
    if _is_intrinsic(value):
        name, argument = next(iter(value.items()))
        tag = "!" + name.removeprefix("Fn::")
        if name == "Fn::GetAtt" and isinstance(argument, list) and all(isinstance(a, str) for a in argument):
            return _Tagged(tag, ".".join(argument))
        if _is_intrinsic(argument):
            # YAML cannot tag a tagged node (`!Base64 !Sub x`): keep the outer function in long form.
            return {name: _to_tagged(argument)}
        return _Tagged(tag, _to_tagged(argument))
    return {key: _to_tagged(item) for key, item in value.items()}


class _Dumper(yaml.SafeDumper):
    """Block style, sequences indented under their key, no aliases, no line wrapping."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        return super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def choose_scalar_style(self) -> str:
        # PyYAML quotes every scalar with an explicit tag; `!Ref Name` reads better plain when safe.
        event = self.event
        if (event.tag or "").startswith("!") and not event.style:
            if self.analysis is None:
                self.analysis = self.analyze_scalar(event.value)
            if self.analysis.allow_block_plain and not self.analysis.empty and not self.analysis.multiline:
                return ""
        return super().choose_scalar_style()


def _represent_tagged(dumper: yaml.SafeDumper, node: _Tagged) -> yaml.Node:
    if isinstance(node.value, list):
        return dumper.represent_sequence(node.tag, node.value)
    if isinstance(node.value, dict):
        return dumper.represent_mapping(node.tag, node.value)
    return dumper.represent_scalar(node.tag, "" if node.value is None else str(node.value))


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(_Tagged, _represent_tagged)
_Dumper.add_representer(str, _represent_str)


def dump_template(template: dict[str, Any]) -> str:
    """The template as YAML with short-form tags and `#` comments explaining every `*` resource."""
    text = yaml.dump(_to_tagged(template), Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=1 << 20, indent=2)
    reasons = _wildcard_reasons(template)
    if not reasons:
        return text
    out = []
    for line in text.splitlines(keepends=True):
        match = re.match(r"^(\s*)- Sid: (\S+)$", line.rstrip("\n"))
        if match and match.group(2) in reasons:
            out.append(f"{match.group(1)}# Resource \"*\": {reasons[match.group(2)]}\n")
        out.append(line)
    return "".join(out)


def _wildcard_reasons(template: dict[str, Any]) -> dict[str, str]:
    reasons: dict[str, str] = {}
    for resource in template.get("Resources", {}).values():
        reasons.update((resource.get("Metadata") or {}).get(WILDCARD_METADATA, {}))
    return reasons


def dump_definition(definition: dict[str, Any]) -> str:
    """An ASL document as stable, readable JSON (state order is the document order)."""
    return json.dumps(definition, indent=2, ensure_ascii=False) + "\n"


def write_atomic(path: Path, text: str) -> bool:
    """Replace `path` with `text` atomically; returns False (and leaves the file alone) when unchanged."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return True


def write_outputs(template: dict[str, Any], definitions: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write template.yaml and statemachines/<workflow>.asl.json under out_dir.

    `definitions` maps workflow name → ASL definition (or the `(definition, substitutions)` pair
    `asl.build_definition` returns). Returns the written paths relative to out_dir. ASL files of
    workflows that no longer exist are removed so build/ mirrors the specs. The call order
    `(out_dir, template, definitions)` is accepted too.
    """
    if isinstance(template, (str, os.PathLike)):
        template, definitions, out_dir = definitions, out_dir, Path(template)  # type: ignore[assignment]
    out_dir = Path(out_dir)
    write_atomic(out_dir / "template.yaml", dump_template(template))
    paths = [Path("template.yaml")]
    machines = out_dir / "statemachines"
    wanted = set()
    for name in sorted(definitions):
        definition = definitions[name]
        if isinstance(definition, tuple):
            definition = definition[0]
        path = machines / f"{name}.asl.json"
        write_atomic(path, dump_definition(definition))
        wanted.add(path.name)
        paths.append(path.relative_to(out_dir))
    if machines.is_dir():
        for stale in machines.glob("*.asl.json"):
            if stale.name not in wanted:
                stale.unlink()
    return paths


# --- reading back ----------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    pass


def _construct_tagged(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = suffix if suffix in ("Ref", "Condition") else "Fn::" + suffix
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            resource, _, attribute = value.partition(".")
            value = [resource, attribute]
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_Loader.add_multi_constructor("!", _construct_tagged)


def load_template(text: str) -> dict[str, Any]:
    """Parse a template written with short-form tags back into long-form data."""
    return yaml.load(text, Loader=_Loader)  # _Loader derives from SafeLoader
