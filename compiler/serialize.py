"""Write the compiled artefacts: build/template.yaml (CloudFormation short-form tags) and
build/statemachines/<workflow>.asl.json (and <workflow>.scp.json). Output is deterministic and the
output folder is replaced as a whole, atomically.

YAML comments are not data, so the template carries its explanations as data (the Metadata of a role
with a `*` resource) and this module renders them as `# …` comments above the statements they explain.
`load_template` reads the short-form tags back into the same data (for tests and for the engine).
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import secrets
import shutil
import sys
import time
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


def write_outputs(template: dict[str, Any], definitions: dict[str, Any], out_dir: Path,
                  documents: dict[str, Any] | None = None, code: tuple[dict[Path, str], dict[Path, str]] | None = None
                  ) -> list[Path]:
    """Write template.yaml, statemachines/<workflow>.asl.json and `documents` (file name → JSON, e.g.
    `<workflow>.scp.json`) under out_dir, all at once; `code` adds the functions' code folders (files
    and symbolic links, each relative path → text or link target).

    `definitions` maps workflow name → ASL definition (or the `(definition, substitutions)` pair
    `asl.build_definition` returns). The new folder is assembled beside out_dir and swapped in, so
    out_dir never mixes two compiles. Files the compiler did not make are carried over; ASL and SCP
    files of workflows that no longer exist are not, so build/ mirrors the specs. Returns the
    written paths relative to out_dir.
    """
    files: dict[Path, str] = {Path("template.yaml"): dump_template(template)}
    for name in sorted(definitions):
        definition = definitions[name]
        if isinstance(definition, tuple):
            definition = definition[0]
        files[Path("statemachines") / f"{name}.asl.json"] = dump_definition(definition)
    for name in sorted(documents or {}):
        files[Path(name)] = dump_definition(documents[name])  # type: ignore[index]
    code_files, links = code or ({}, {})
    files.update(code_files)
    replace_folder(Path(out_dir), files, links)
    return [*files, *links]


def _generated(relative: Path) -> bool:
    """Whether a file in the output folder is the compiler's (and so rewritten or dropped by a compile)."""
    parts = relative.parts
    if parts and parts[0] == "functions":
        return True  # the functions' code folders (compiler/package.py)
    if len(parts) == 1:
        return parts[0] == "template.yaml" or parts[0].endswith(".scp.json")
    return len(parts) == 2 and parts[0] == "statemachines" and parts[1].endswith(".asl.json")


def replace_folder(out_dir: Path, files: dict[Path, str], links: dict[Path, str] | None = None) -> None:
    """Make out_dir hold `files` (relative path → text) plus whatever non-generated files it had,
    switching from the old folder to the new one in one rename."""
    if out_dir.is_symlink():
        out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(out_dir)
    source = out_dir if out_dir.is_dir() else _crashed_swap(out_dir)
    # mkdir (not mkdtemp, which makes it private): the new folder gets the permissions out_dir would.
    staging = out_dir.parent / f".{out_dir.name}.new-{os.getpid()}-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        if source is not None:
            _carry_over(source, staging)
        for relative, text in files.items():
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            old = None if source is None else source / relative
            if old is not None and old.is_file() and not old.is_symlink() and old.read_bytes() == text.encode():
                _link_or_copy(old, target)  # unchanged: keep the file (and its mtime)
            else:
                with open(target, "w", encoding="utf-8", newline="\n") as handle:
                    handle.write(text)
        for relative, link in (links or {}).items():
            (staging / relative).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(link, staging / relative)
        _swap(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if source is not None and source != out_dir:
        shutil.rmtree(source, ignore_errors=True)


def _carry_over(source: Path, staging: Path) -> None:
    """Hard-link (else copy) every file of `source` the compiler did not generate into `staging`."""
    for folder, dirs, names in os.walk(source):
        base = Path(folder)
        relative_dir = base.relative_to(source)
        for name in names:
            relative = relative_dir / name
            if _generated(relative):
                continue
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if (base / name).is_symlink():
                os.symlink(os.readlink(base / name), target)
            else:
                _link_or_copy(base / name, target)
        for name in list(dirs):
            if _generated(relative_dir / name):
                dirs.remove(name)  # rebuilt by this compile
            elif (base / name).is_symlink():
                dirs.remove(name)  # a linked folder is carried as the link, not walked
                os.symlink(os.readlink(base / name), staging / relative_dir / name)
            else:
                (staging / relative_dir / name).mkdir(parents=True, exist_ok=True)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _remove_stale_staging(out_dir: Path, age_s: float = 600) -> None:
    """Drop half-built folders of compiles that were killed (old enough not to be a running one's)."""
    now = time.time()
    for staging in out_dir.parent.glob(f".{out_dir.name}.new-*"):
        if now - staging.stat().st_mtime > age_s:
            shutil.rmtree(staging, ignore_errors=True)


def _crashed_swap(out_dir: Path) -> Path | None:
    """The old folder a compile moved aside and could not replace (it stopped between two renames)."""
    aside = sorted(out_dir.parent.glob(f".{out_dir.name}.old-*"), key=lambda p: p.stat().st_mtime)
    return aside[-1] if aside else None


def _swap(staging: Path, out_dir: Path) -> None:
    """Put `staging` where out_dir is: one atomic exchange where the OS has one, else two renames (a
    crash between them leaves no out_dir and the old one aside, never a mix)."""
    if not out_dir.exists():
        os.rename(staging, out_dir)
        return
    if _exchange(staging, out_dir):
        shutil.rmtree(staging, ignore_errors=True)  # now the old folder
        return
    aside = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}-{secrets.token_hex(4)}"
    os.rename(out_dir, aside)
    os.rename(staging, out_dir)
    shutil.rmtree(aside, ignore_errors=True)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically with Linux renameat2(RENAME_EXCHANGE); False where unavailable."""
    if sys.platform != "linux":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0


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
