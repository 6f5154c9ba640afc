"""`stepsmith new NAME`: a workflow, its handler module and a test, rendered from templates/new/."""
from __future__ import annotations

import os
import re
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "new"
SCHEMA = Path(__file__).resolve().with_name("schema.json")
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


class ScaffoldError(Exception):
    """Why nothing was scaffolded (bad name, or a file that would be overwritten)."""


def _schema_reference(root: Path) -> str:
    """The schema as the editor should see it: relative inside the project, else absolute."""
    if SCHEMA.is_relative_to(root.resolve()):
        return os.path.relpath(SCHEMA, root.resolve() / "workflows")
    return SCHEMA.as_uri()


def scaffold(root: Path, name: str) -> list[Path]:
    """Write workflows/NAME.yaml, handlers/<module>.py and tests/test_<module>.py; never overwrite."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    if not _NAME.match(name):
        raise ScaffoldError(f"'{name}' is not a valid workflow name: use kebab-case like face-blur")
    module = name.replace("-", "_")
    targets = {
        "workflow.yaml.j2": root / "workflows" / f"{name}.yaml",
        "handler.py.j2": root / "handlers" / f"{module}.py",
        "test.py.j2": root / "tests" / f"test_{module}.py",
    }
    existing = [path for path in targets.values() if path.exists()]
    if existing:
        shown = ", ".join(str(path.relative_to(root)) for path in existing)
        raise ScaffoldError(f"{shown} already exist{'s' if len(existing) == 1 else ''}; nothing was written "
                            "(pick another name or remove them)")
    environment = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
                              keep_trailing_newline=True, autoescape=False)
    context = {
        "name": name,
        "module": module,
        "title": name.replace("-", " ").capitalize(),
        "schema": _schema_reference(root),
    }
    for template, path in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(environment.get_template(template).render(context), encoding="utf-8")
    return list(targets.values())
