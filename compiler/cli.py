"""`stepsmith validate | compile | graph | new`: thin click shells over the compiler's Python API.

Exit codes: 0 ok, 2 a spec or usage error (every error printed to stderr, one line each).
Imports of the compiler proper happen inside the commands so `stepsmith --help` stays fast.
"""
from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click

_FILES = click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))


def parse_parameter_overrides(values: tuple[str, ...]) -> dict[str, str]:
    """`K=V` pairs (several per value, shell-quoted, or `ParameterKey=K,ParameterValue=V`), as `sam deploy`
    takes them → a dict. Raises ValueError naming the pair that is neither."""
    overrides: dict[str, str] = {}
    for value in values:
        for pair in shlex.split(value):
            if pair.startswith("ParameterKey="):
                fields = dict(part.split("=", 1) for part in pair.split(",") if "=" in part)
                key, val = fields.get("ParameterKey"), fields.get("ParameterValue")
            else:
                key, equals, val = pair.partition("=")
                val = val if equals else None
            if not key or val is None:
                raise ValueError(f"{pair!r} is not KEY=VALUE")
            overrides[key] = val
    return overrides


# The samconfig.toml sections whose parameter_overrides `sam deploy` applies, later ones winning.
SAMCONFIG_SECTIONS = ("global", "deploy")


def samconfig_parameter_overrides(root: Path, environment: str = "default") -> dict[str, str]:
    """`parameter_overrides` of root/samconfig.toml's [environment.global|deploy.parameters], as SAM
    reads them (one string of KEY=VALUE pairs, or a list of them). Raises ValueError naming the file."""
    import tomllib

    path = root / "samconfig.toml"
    if not path.is_file():
        return {}
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from None
    overrides: dict[str, str] = {}
    for section in SAMCONFIG_SECTIONS:
        value = ((config.get(environment) or {}).get(section) or {}).get("parameters", {}).get("parameter_overrides")
        if value is None:
            continue
        values = (value,) if isinstance(value, str) else tuple(str(item) for item in value)
        try:
            overrides.update(parse_parameter_overrides(values))
        except ValueError as error:
            raise ValueError(f"{path}: [{environment}.{section}.parameters] parameter_overrides: {error}") from None
    return overrides


def _overrides(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    from compiler import find_project_root

    try:
        configured = samconfig_parameter_overrides(find_project_root())
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    try:
        return {**configured, **parse_parameter_overrides(values)}
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


# Shared by `compile`, `run` and `serve`, so all three take parameter values exactly as `sam deploy` does:
# samconfig.toml's parameter_overrides first, then the command line's.
parameter_overrides_option = click.option(
    "--parameter-overrides", "parameter_overrides", multiple=True, callback=_overrides,
    metavar="KEY=VALUE ...", help="Template parameter values, as `sam deploy` takes them; repeatable. Added to "
    "(and winning over) samconfig.toml's [default.global|deploy.parameters] parameter_overrides.")


def _fail(message: str) -> None:
    click.echo(message, err=True)
    raise SystemExit(2)


def _report(errors: list) -> None:
    for error in errors:
        click.echo(str(error), err=True)
    count = len(errors)
    _fail(f"{count} error{'s' if count != 1 else ''}; nothing was compiled")


@click.command()
@_FILES
def validate(files: tuple[Path, ...]) -> None:
    """Check workflow specs (default: every workflows/*.yaml) and print every error as file:line:col.

    Checks the schema and every cross-reference: step names, resources, parameters, handlers
    (module and `(event, context)` function, read statically), images, triggers, JSONPath and
    JSONata syntax, conditions, unreachable steps and loops with no exit. Exit 2 on any error.
    """
    from compiler import SpecErrors, find_project_root, lint_workflows, load_project

    root = find_project_root()
    try:
        workflows = load_project(root, files or None)
    except SpecErrors as exc:
        for error in exc.errors:
            click.echo(str(error), err=True)
        count = len(exc.errors)
        _fail(f"{count} error{'s' if count != 1 else ''}")
        return
    if not workflows:
        _fail("no workflows found: add workflows/<name>.yaml or run `stepsmith new NAME`")
    for warning in lint_workflows(workflows):
        click.echo(str(warning), err=True)
    click.echo(f"ok: {len(workflows)} workflow{'s' if len(workflows) != 1 else ''} valid")


@click.command(name="compile")
@_FILES
@click.option("-o", "--out", "out_dir", default="build", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Output folder (replaced as a whole).")
@parameter_overrides_option
def compile_(files: tuple[Path, ...], out_dir: Path, parameter_overrides: dict[str, str]) -> None:
    """Compile workflows to OUT/template.yaml (SAM) and OUT/statemachines/<workflow>.asl.json.

    Validates first; on any error nothing is written. Output is deterministic: compiling twice
    gives byte-identical files. Deploy with `sam build && sam deploy` from the project root.
    --parameter-overrides only fills in files written beside the template (e.g. <workflow>.scp.json).
    """
    from compiler import SpecErrors, compile_project, find_project_root

    root = find_project_root()
    try:
        result = compile_project(root, out_dir if out_dir.is_absolute() else Path.cwd() / out_dir, files or None,
                                 parameter_overrides=parameter_overrides)
    except SpecErrors as exc:
        _report(exc.errors)
        return
    for warning in result.warnings:
        click.echo(str(warning), err=True)
    shown = _relative(result.out_dir)
    for file in result.files:
        click.echo(f"wrote {shown / file}")
    click.echo(f"compiled {len(result.workflows)} workflow{'s' if len(result.workflows) != 1 else ''} "
               f"into {shown}/")


def _relative(path: Path) -> Path:
    try:
        return path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return path


@click.command()
@click.argument("workflow")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True,
              help="Graph language (ignored when -o names an .svg/.png: that is Graphviz).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here instead of stdout; .svg/.png renders with Graphviz `dot`.")
@click.option("--execution", metavar="NAME",
              help="Highlight the path of a past local run (.stepsmith/executions/NAME.json).")
def graph(workflow: str, fmt: str, output: Path | None, execution: str | None) -> None:
    """Draw WORKFLOW (a name or a spec path) as Mermaid or Graphviz, optionally with a run's path."""
    from compiler import SpecErrors, find_project_root, load_workflow
    from compiler.graph import execution_overlay, to_dot, to_mermaid

    root = find_project_root()
    spec = Path(workflow)
    if not spec.is_file():
        spec = next((root / "workflows" / f"{workflow}{ext}" for ext in (".yaml", ".yml")
                     if (root / "workflows" / f"{workflow}{ext}").is_file()), spec)
    if not spec.is_file():
        _fail(f"no workflow '{workflow}' (looked for {spec} and workflows/{workflow}.yaml)")
    try:
        model = load_workflow(spec, root)
    except SpecErrors as exc:
        _report(exc.errors)
        return
    overlay = None
    if execution:
        record = root / ".stepsmith" / "executions" / f"{execution}.json"
        if not record.is_file():
            _fail(f"no execution '{execution}' ({record} not found; see `stepsmith history`)")
        overlay = execution_overlay(model, record)
    image = output is not None and output.suffix.lower() in (".svg", ".png")
    text = to_dot(model, overlay) if fmt == "dot" or image else to_mermaid(model, overlay)
    if output is None:
        click.echo(text, nl=False)
        return
    if image:
        dot = shutil.which("dot")
        if dot is None:
            _fail(f"{output}: rendering {output.suffix} needs Graphviz `dot` on PATH "
                  "(install graphviz, or write .dot/.mmd instead)")
        done = subprocess.run([dot, f"-T{output.suffix.lower()[1:]}", "-o", str(output)], input=text.encode(),
                              capture_output=True, check=False)
        if done.returncode != 0:
            _fail(f"{output}: dot failed: {done.stderr.decode(errors='replace').strip()}")
    else:
        output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output}")


@click.command()
@click.argument("name")
def new(name: str) -> None:
    """Scaffold workflows/NAME.yaml, handlers/<name>.py and tests/test_<name>.py (never overwrites)."""
    from compiler import find_project_root
    from compiler.scaffold import ScaffoldError, scaffold

    try:
        created = scaffold(find_project_root(), name)
    except ScaffoldError as exc:
        _fail(str(exc))
        return
    for path in created:
        click.echo(f"created {_relative(path)}")
    click.echo(f"next: stepsmith validate && stepsmith compile   (edit {_relative(created[0])} first)")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(validate())
