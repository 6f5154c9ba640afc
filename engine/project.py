"""The project as the commands that run things see it: where it is, which workflow a name means, a build/
that matches the specs, and the settings every such command shares (`--parameter-overrides`,
`--config-env`, `--env-vars`), applied the same way by `run`, `serve` and `invoke`.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from compiler import lookup
from compiler.cli import parse_parameter_overrides
from compiler.lookup import WorkflowRef

if TYPE_CHECKING:
    from engine.app import App, StateMachine

STATE_DIR = ".stepsmith"


class ProjectError(Exception):
    """Input the commands cannot use; the message is what to print (one line per problem)."""


def find_root(start: Path | None = None) -> Path:
    """The project root: the nearest folder at or above `start` with workflows/ or build/template.yaml."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "workflows").is_dir() or (candidate / "build" / "template.yaml").is_file():
            return candidate
    return here


# ------------------------------------------------------------------------------------ workflow names


def resolve_workflow(root: Path, typed: str) -> WorkflowRef:
    """`b12`, `b12-jsonpath` or `workflows/b12-jsonpath.yaml` → the same workflow (ProjectError if no file)."""
    try:
        return lookup.resolve_workflow(root, typed)
    except lookup.WorkflowNotFound as error:
        raise ProjectError(str(error)) from None


def find_machine(app: App, ref: WorkflowRef, skipped: dict[str, list[str]] | None = None) -> StateMachine:
    """The compiled state machine of a workflow, or ProjectError saying why there is none."""
    machine = app.state_machine(ref.name)
    if machine is not None:
        return machine
    if ref.spec is not None and skipped:
        for shown, errors in skipped.items():
            if (app.root / shown).resolve() == ref.spec.resolve():
                raise ProjectError("\n".join([*errors, (f"{shown}: not compiled: its spec has "
                                              f"{len(errors)} error(s); fix them and run again")]))
    known = ", ".join(sorted(m.logical_id for m in app.state_machines.values())) or "none"
    raise ProjectError(f"{app.template_path}: no state machine for workflow '{ref.name}' (the template has: "
                       f"{known})")


# ------------------------------------------------------------------------------------ build/


def compile_if_needed(root: Path, echo: Any = None) -> dict[str, list[str]]:
    """Compile the project into build/ unless build/ already matches the sources; returns the specs that
    were skipped for their errors (spec → error lines). Valid specs compile even when others are broken."""
    from compiler import freshness

    build = root / "build"
    if not (root / "workflows").is_dir():
        return {}
    if freshness.is_current(root, build):
        skipped = (freshness.read_manifest(build) or {}).get("skipped") or {}
    else:
        # Two runs started together compile once: the second finds build/ current when it gets the lock.
        with _compile_lock(root):
            if freshness.is_current(root, build):
                skipped = (freshness.read_manifest(build) or {}).get("skipped") or {}
            else:
                if echo:
                    echo("compiling workflows/ → build/")
                skipped = _compile_valid(root, build)
                freshness.write_manifest(root, build, skipped)
    if echo:
        for shown, errors in sorted(skipped.items()):
            more = f" (+{len(errors) - 1} more; `stepsmith validate {shown}` lists them)" if len(errors) > 1 else ""
            echo(f"skipped {shown}: {errors[0]}{more}")
    return skipped


@contextlib.contextmanager
def _compile_lock(root: Path) -> Iterator[None]:
    folder = root / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "compile.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _compile_valid(root: Path, build: Path) -> dict[str, list[str]]:
    from compiler import SpecErrors, compile_project, workflow_files

    try:
        compile_project(root, build)
        return {}
    except SpecErrors as first:
        errors = first.errors
    if any(error.place is None for error in errors):
        raise ProjectError("\n".join([*(str(error) for error in errors),
                                      f"{len(errors)} error(s) in the workflow specs; nothing was run"]))
    skipped: dict[str, list[str]] = {}
    for error in errors:
        skipped.setdefault(str(error.place.file), []).append(str(error))
    valid = [spec for spec in workflow_files(root) if _shown(spec, root) not in skipped]
    if not valid:
        raise ProjectError("\n".join([*(str(error) for error in errors),
                                      f"{len(errors)} error(s) in the workflow specs; no valid workflow to run"]))
    try:
        compile_project(root, build, valid)
    except SpecErrors as second:
        raise ProjectError("\n".join(str(error) for error in second.errors)) from None
    return skipped


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------------------------ shared settings


def _config_env(function: Any) -> Any:
    return click.option("--config-env", default="default", show_default=True, metavar="ENV",
                        help="samconfig.toml environment: its `parameter_overrides`, `env_vars` and "
                             "`stack_name` (from [ENV.global], [ENV.deploy] and this command's section) "
                             "apply unless given here.")(function)


def _env_vars(function: Any) -> Any:
    return click.option("--env-vars", "env_vars", type=click.Path(dir_okay=False, path_type=Path),
                        metavar="FILE",
                        help="SAM's env-vars JSON: {\"Parameters\": {VAR: value}} for every function, "
                             "{\"LogicalId\": {VAR: value}} for one; only variables the template declares "
                             "are overridden.")(function)


def app_options(function: Any) -> Any:
    """--config-env and --env-vars, for every command that runs handlers (with --parameter-overrides)."""
    return _config_env(_env_vars(function))


@dataclass
class Settings:
    """What a command runs with, after samconfig.toml and the command line are merged (the command line wins)."""

    parameter_overrides: dict[str, str]
    env_vars: Path | None
    config_env: str


def settings(root: Path, command: str, overrides: dict[str, str], env_vars: Path | None,
             config_env: str) -> Settings:
    """Merge samconfig.toml's environment `config_env` (sections global, deploy, `command`) under the flags."""
    from compiler.samconfig import SamConfigError, parameter_overrides_text, read_samconfig

    try:
        config = read_samconfig(root, config_env, ("deploy", command))
        from_file = parse_parameter_overrides(parameter_overrides_text(config.get("parameter_overrides")))
    except SamConfigError as error:
        raise ProjectError(str(error)) from None
    except ValueError as error:
        raise ProjectError(f"{root / 'samconfig.toml'}: [{config_env}] parameter_overrides: {error}") from None
    if env_vars is None and config.get("env_vars"):
        env_vars = root / str(config["env_vars"])
    return Settings({**from_file, **overrides}, env_vars, config_env)


def load_app(root: Path, chosen: Settings, template: Path | None = None) -> App:
    """The compiled app with the chosen parameter values and environment overrides; ProjectError if unusable."""
    from engine.app import App, AppError

    try:
        app = App.load(root, template, parameter_overrides=chosen.parameter_overrides,
                       config_env=chosen.config_env)
        if chosen.env_vars is not None:
            app.apply_env_vars(_read_env_vars(chosen.env_vars), str(chosen.env_vars))
    except AppError as error:
        raise ProjectError(str(error)) from None
    return app


def _read_env_vars(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ProjectError(f"{path}: cannot read the env-vars file ({error.strerror})") from None
    except ValueError as error:
        raise ProjectError(f"{path}:{getattr(error, 'lineno', 1)}:{getattr(error, 'colno', 1)}: not valid JSON: "
                           f"{getattr(error, 'msg', error)}") from None
