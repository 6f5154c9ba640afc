"""What each zip function deploys: its own handler code and the requirements that code declares.

A function's code folder (`<out>/functions/<FunctionId>/`, its CodeUri) holds links to the handler's
module or package under handlers/ and to every other handlers/ module it imports, directly or not,
and a requirements.txt merged from theirs: `handlers/<package>/requirements.txt` for a package,
`handlers/<module>.requirements.txt` for a one-file module, and the step's own `requirements:` (lines, or a
file). Links, not copies, so local runs always import the code being edited, while `sam build` copies what
the links point at into the deployed zip.
"""
from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from compiler import names
from compiler.model import HandlerStep, Workflow

FUNCTIONS_DIR = "functions"


@dataclass(frozen=True)
class FunctionPackage:
    """One zip function's code folder: entries (name in the folder → source under handlers/) and
    the requirements.txt text (None: no third-party libraries)."""

    logical_id: str
    entries: tuple[tuple[str, Path], ...]
    requirements: str | None

    @property
    def folder(self) -> str:
        """The folder relative to the output directory, as CodeUri names it."""
        return f"{FUNCTIONS_DIR}/{self.logical_id}/"


def code_uri(workflow: Workflow, step: HandlerStep) -> str:
    """CodeUri of a zip function: its own folder beside template.yaml."""
    return f"{FUNCTIONS_DIR}/{names.function_id(workflow, step.name)}/"


def function_package(root: Path, workflow: Workflow, step: HandlerStep) -> FunctionPackage:
    """The handler's top-level module or package and everything of handlers/ it imports."""
    handlers = root / "handlers"
    found: dict[str, Path] = {}
    todo = [step.module.split(".")[0]]
    while todo:
        name = todo.pop()
        if name in found:
            continue
        source = _unit(handlers, name)
        if source is None:
            continue  # a library, or the standard library: not ours to ship
        found[name] = source
        todo += sorted(_imported_tops(source))
    entries = tuple((path.name, path) for _, path in sorted(found.items()))
    lines: list[str] = []
    for name, path in sorted(found.items()):
        requirements = path / "requirements.txt" if path.is_dir() else handlers / f"{name}.requirements.txt"
        if requirements.is_file():
            for line in requirements.read_text(encoding="utf-8").splitlines():
                if line.strip() and line not in lines:
                    lines.append(line)
    for _, line, _ in step_requirements(root, step):
        if line not in lines:
            lines.append(line)
    return FunctionPackage(names.function_id(workflow, step.name), entries,
                           "\n".join(lines) + "\n" if lines else None)


def step_requirements(root: Path, step: HandlerStep) -> Iterator[tuple[int, str, str | None]]:
    """(line number, requirement, problem or None) for each requirement of the step's `requirements:`: each
    list item (numbered from 1), or each requirement line of the file it names (blank lines and comments
    skipped). A file that does not exist yields nothing: validate reports it."""
    if isinstance(step.requirements, list):
        for number, line in enumerate(step.requirements, 1):
            yield number, line.strip(), requirement_problem(line)
    elif isinstance(step.requirements, str):
        path = root / step.requirements
        if not path.is_file():
            return
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            text = re.sub(r"(^|\s)#.*$", "", line).strip()  # pip's comments: `#` at the start or after a space
            if text:
                yield number, text, requirement_problem(text)


def requirement_problem(line: str) -> str | None:
    """Why pip would refuse `line` as a requirement (PEP 508), or None. Options (-r, --index-url, -e) are
    refused too: the function's requirements are merged into one file, where they would apply to all."""
    from packaging.requirements import InvalidRequirement, Requirement

    text = line.strip()
    if text.startswith("-"):
        return f"'{text.split()[0]}' is a pip option, not a requirement"
    try:
        Requirement(text)
    except InvalidRequirement as error:
        return str(error).splitlines()[0]
    return None


def unsatisfied_requirements(text: str) -> list[str]:
    """The requirement lines of a requirements.txt this Python environment does not satisfy, each with what is
    installed instead (`pillow>=10 (not installed)`, `numpy<2 (2.1.0 installed)`)."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import InvalidRequirement, Requirement

    missing: list[str] = []
    for line in text.splitlines():
        try:
            requirement = Requirement(re.sub(r"(^|\s)#.*$", "", line).strip())
        except InvalidRequirement:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            missing.append(f"{line.strip()} (not installed)")
            continue
        if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
            missing.append(f"{line.strip()} ({installed} installed)")
    return missing


def package_links(packages: list[FunctionPackage], out_dir: Path) -> tuple[dict[Path, str], dict[Path, str]]:
    """Files (requirements.txt) and links (relative, so the project can move) of the code folders."""
    files: dict[Path, str] = {}
    links: dict[Path, str] = {}
    for package in packages:
        folder = Path(package.folder)
        for name, source in package.entries:
            links[folder / name] = os.path.relpath(_absolute(source), _absolute(out_dir / folder))
        # SAM builds every CodeUri with pip; an empty requirements.txt says "no libraries" explicitly.
        files[folder / "requirements.txt"] = package.requirements or ""
    return files, links


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def _unit(handlers: Path, name: str) -> Path | None:
    package = handlers / name
    if (package / "__init__.py").is_file():
        return package
    module = handlers / f"{name}.py"
    return module if module.is_file() else None


def _imported_tops(source: Path) -> set[str]:
    """Top-level names of absolute imports in a module, or in every module of a package."""
    files = sorted(source.rglob("*.py")) if source.is_dir() else [source]
    tops: set[str] = set()
    for file in files:
        try:
            tree = ast.parse(file.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue  # validate reports handler syntax errors at their place
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops.add(node.module.split(".")[0])
    return tops
