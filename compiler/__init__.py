"""The Stepsmith compiler: workflow specs (YAML) → typed model → ASL + SAM in build/.

Python API (the CLI is a thin shell over it):
    load_workflow(path) -> Workflow                  one spec, fully validated
    validate_project(root) -> list[SpecError]        every error of every spec, nothing raised
    compile_project(root, out_dir) -> CompileResult  validate, build ASL + SAM + SCPs, swap out_dir in whole
Heavy imports stay inside the functions so `import compiler` is cheap.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from compiler.errors import SpecError, SpecErrors
    from compiler.model import Workflow


def __getattr__(name: str) -> object:
    # SpecError/SpecErrors load on first use: the model's dataclasses cost ~50 ms to import, and
    # `stepsmith --help` imports this package.
    if name in ("SpecError", "SpecErrors"):
        from compiler import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'compiler' has no attribute {name!r}")

__all__ = [
    "CompileResult",
    "SpecError",
    "SpecErrors",
    "compile_project",
    "find_project_root",
    "lint_workflows",
    "load_project",
    "load_workflow",
    "validate_project",
    "workflow_files",
]


def find_project_root(start: str | os.PathLike[str] = ".") -> Path:
    """The nearest directory at or above `start` with a workflows/ folder (else `start` itself)."""
    here = Path(start).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "workflows").is_dir():
            return candidate
    return here


def workflow_files(root: str | os.PathLike[str]) -> list[Path]:
    """The project's workflow specs, in name order (compiling is deterministic)."""
    folder = Path(root) / "workflows"
    return sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])


def _display(path: Path, root: Path) -> str:
    """How a file is named in messages: relative to the project root when inside it."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _load(path: Path, root: Path) -> tuple[Workflow | None, list[SpecError]]:
    from compiler.errors import SpecErrors
    from compiler.iam import misnamed_resources
    from compiler.load import build_workflow, read_document
    from compiler.validate import check_schema, check_workflow

    try:
        document = read_document(path, _display(path, root))
    except SpecErrors as exc:
        return None, exc.errors
    schema_errors = check_schema(document)
    if schema_errors:
        return None, schema_errors + _checks_despite(schema_errors, document, path, root)
    workflow, errors = build_workflow(document, path)
    return workflow, errors + check_workflow(workflow, document, root) + misnamed_resources(workflow)


def _checks_despite(schema_errors: list[SpecError], document: object, path: Path,
                    root: Path) -> list[SpecError]:
    """Cross-reference errors of a spec that failed the schema, so one run shows them all.

    The model builder trusts the schema: where a shape it cannot read makes it fail, the checks run
    again on a copy with the invalid parts taken out (validate.without_invalid_parts). Errors on a line the schema already flagged are dropped, since they
    mostly echo it, and so are references to a resource that was taken out.
    """
    from compiler.load import build_workflow
    from compiler.validate import check_workflow, without_invalid_parts

    failures = (KeyError, TypeError, AttributeError, ValueError, StopIteration, AssertionError, IndexError)
    removed: set[str] = set()
    try:
        workflow, errors = build_workflow(document, path)  # type: ignore[arg-type]
        errors = errors + check_workflow(workflow, document, root)  # type: ignore[arg-type]
    except failures:
        pruned = without_invalid_parts(document)  # type: ignore[arg-type]
        if pruned is None:
            return []
        usable, removed = pruned
        try:
            workflow, errors = build_workflow(usable, path)
            errors = errors + check_workflow(workflow, usable, root)
        except failures:
            return []
    flagged = {(error.place.file, error.place.line) for error in schema_errors if error.place}
    gone = {f"no resource named '{name}'" for name in removed}
    return [error for error in errors if error.place and (error.place.file, error.place.line) not in flagged
            and error.message not in gone]


def load_workflow(path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> Workflow:
    """Load and fully validate one spec; raises SpecErrors listing every problem."""
    from compiler.errors import SpecErrors

    spec = Path(path)
    project = Path(root) if root is not None else find_project_root(spec.parent)
    workflow, errors = _load(spec, project)
    if errors or workflow is None:
        raise SpecErrors(errors)
    return workflow


def load_project(root: str | os.PathLike[str] = ".",
                 files: Sequence[str | os.PathLike[str]] | None = None) -> list[Workflow]:
    """Load every spec of the project (or just `files`); raises SpecErrors with all errors of all files."""
    from compiler.errors import SpecError, SpecErrors
    from compiler.validate import check_project, link_shared_resources

    project = Path(root)
    paths = [Path(file) for file in files] if files else workflow_files(project)
    workflows: list[Workflow] = []
    errors: list[SpecError] = []
    for path in paths:
        if not path.is_file():
            errors.append(SpecError(None, f"{path}: no such workflow file"))
            continue
        workflow, found = _load(path, project)
        errors.extend(found)
        if workflow is not None:
            workflows.append(workflow)
    errors.extend(check_project(workflows))
    if errors:
        raise SpecErrors(errors)
    link_shared_resources(workflows)
    return workflows


def validate_project(root: str | os.PathLike[str] = ".",
                     files: Sequence[str | os.PathLike[str]] | None = None) -> list[SpecError]:
    """Every error in the project's specs (or `files`), sorted by place; empty when all is well."""
    from compiler.errors import SpecErrors

    try:
        load_project(root, files)
    except SpecErrors as exc:
        return exc.errors
    return []


@dataclass
class CompileResult:
    """What a compile wrote."""

    out_dir: Path
    workflows: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # every file written, relative to out_dir
    warnings: list = field(default_factory=list)  # compiler.lints.Lint: likely trouble on AWS, notes


def compile_project(root: str | os.PathLike[str] = ".", out_dir: str | os.PathLike[str] = "build",
                    files: Sequence[str | os.PathLike[str]] | None = None,
                    parameter_overrides: dict[str, str] | None = None) -> CompileResult:
    """Validate, then write out_dir/template.yaml, out_dir/statemachines/*.asl.json and
    out_dir/<workflow>.scp.json for workflows with an `scp:`.

    Nothing is written when any spec has errors (SpecErrors is raised); the whole folder is
    replaced at once, only after every output was built, so a failed compile never half-writes.
    `parameter_overrides` fill parameters into the SCP documents (the template keeps its Parameters).
    """
    from compiler import asl, iam, package, sam, serialize
    from compiler.errors import SpecError, SpecErrors
    from compiler.lints import scp_notes

    project = Path(root)
    workflows = load_project(project, files)
    target = Path(out_dir)
    if not target.is_absolute():
        target = project / target
    if target.resolve() == project.resolve() or target.resolve() in project.resolve().parents:
        # The output folder is replaced as a whole: never the project itself.
        raise SpecErrors([SpecError(None, f"{target}: the output folder cannot hold the project",
                                    "write to a folder inside it, e.g. -o build")])
    # Everything is built in memory first: a failure here leaves the output folder untouched.
    definitions = {workflow.name: asl.build_definition(workflow) for workflow in workflows}
    template = sam.build_template(workflows, project, target)
    packages = [package.function_package(project, workflow, step) for workflow in workflows
                for step in workflow.handler_steps() if step.image is None]
    code = package.package_links(packages, target)
    documents: dict[str, object] = {}
    notes = []
    for workflow in workflows:
        if workflow.scp:
            document, left = iam.service_control_policy(workflow, parameter_overrides)
            documents[f"{workflow.name}.scp.json"] = document
            notes.extend(scp_notes(workflow, left))
    written = serialize.write_outputs(template, definitions, target, documents, code)
    return CompileResult(out_dir=target, workflows=[workflow.name for workflow in workflows],
                         files=sorted(written), warnings=lint_workflows(workflows) + notes)


def lint_workflows(workflows: Sequence[Workflow]) -> list:
    """Warnings (compiler.lints.Lint) for valid workflows: things that compile but misbehave on AWS."""
    from compiler.lints import lint_workflow

    return [lint for workflow in workflows for lint in lint_workflow(workflow)]
