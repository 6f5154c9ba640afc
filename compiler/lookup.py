"""Which workflow a name the user typed means: its `name:`, its file name, or its path, all alike."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class WorkflowNotFound(ValueError):
    """A path to a spec that does not exist."""


def _declared_name(spec: Path) -> str:
    """A spec's `name:` (the file name when it has none or cannot be read)."""
    import yaml

    try:
        document = yaml.safe_load(spec.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return spec.stem
    name = document.get("name") if isinstance(document, dict) else None
    return name if isinstance(name, str) and name else spec.stem


@dataclass(frozen=True)
class WorkflowRef:
    """What a user typed for a workflow, resolved: the workflow's name and, when there is one, its spec."""

    name: str
    spec: Path | None


def resolve_workflow(root: Path, typed: str) -> WorkflowRef:
    """`b12`, `b12-jsonpath` or `workflows/b12-jsonpath.yaml` → the same workflow, whatever its `name:`."""
    path = Path(typed)
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file() and path.parent == Path(".") and (root / "workflows" / path.name).is_file():
            path = root / "workflows" / path.name     # `b12-jsonpath.yaml`: the file name with its suffix
        if not path.is_file():
            raise WorkflowNotFound(f"{typed}: no such workflow file")
        return WorkflowRef(_declared_name(path), path.resolve())
    folder = root / "workflows"
    specs = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []
    for spec in specs:
        if spec.stem == typed:
            return WorkflowRef(_declared_name(spec), spec)
    for spec in specs:
        if _declared_name(spec) == typed:
            return WorkflowRef(typed, spec)
    return WorkflowRef(typed, None)   # perhaps a machine of a hand-written template: App decides
