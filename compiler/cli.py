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

_FILES = click.argument("files", nargs=-1, type=click.Path(dir_okay=False, path_type=Path),
                        metavar="[WORKFLOW]...")


def _spec_paths(root: Path, typed: tuple[Path, ...]) -> list[Path] | None:
    """Workflows as typed (names, file names or paths) → their spec files; None for the whole project."""
    from compiler.lookup import WorkflowNotFound, resolve_workflow

    paths = []
    for value in typed:
        try:
            spec = resolve_workflow(root, str(value)).spec
        except WorkflowNotFound:
            spec = None
        paths.append(spec or value)   # an unknown one is reported by the loader as "no such workflow file"
    return paths or None


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
    metavar="'KEY=VALUE ...'",
    help="Template parameter values, as `sam deploy` takes them: several in one quoted value, or the option "
         "repeated; checked as CloudFormation checks them (unknown keys, AllowedValues, AllowedPattern, …). "
         "Added to (and winning over) samconfig.toml's [default.global|deploy.parameters] parameter_overrides.")


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
    """Check workflows (names, file names or spec paths; default: every workflows/*.yaml) and print every
    error as file:line:col.

    Checks the schema and every cross-reference: step names, resources, parameters, handlers
    (module and `(event, context)` function, read statically), images, triggers, JSONPath and
    JSONata syntax, conditions, unreachable steps and loops with no exit. Exit 2 on any error.
    """
    from compiler import SpecErrors, find_project_root, lint_workflows, load_project

    root = find_project_root()
    try:
        workflows = load_project(root, _spec_paths(root, files))
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
@click.option("--config-env", default="default", show_default=True, metavar="ENV",
              help="samconfig.toml environment whose `parameter_overrides` apply unless given here.")
def compile_(files: tuple[Path, ...], out_dir: Path, parameter_overrides: dict[str, str], config_env: str) -> None:
    """Compile workflows (names, file names or spec paths; default: all) to OUT/template.yaml (SAM) and
    OUT/statemachines/<workflow>.asl.json.

    Validates first; on any error nothing is written. Output is deterministic: compiling twice
    gives byte-identical files. Deploy with `sam build && sam deploy` from the project root.
    --parameter-overrides only fills in files written beside the template (e.g. <workflow>.scp.json);
    they are checked as CloudFormation checks them (unknown keys, AllowedValues, AllowedPattern, …).
    """
    from compiler import SpecErrors, compile_project, find_project_root, freshness, load_project, sam
    from compiler.overrides import check_parameter_values
    from compiler.samconfig import SamConfigError, parameter_overrides_text, read_samconfig

    root = find_project_root()
    try:
        configured = read_samconfig(root, config_env, ("deploy", "compile")).get("parameter_overrides")
        parameter_overrides = {**parse_parameter_overrides(parameter_overrides_text(configured)),
                               **parameter_overrides}
    except (SamConfigError, ValueError) as error:
        _fail(str(error))
    target = out_dir if out_dir.is_absolute() else Path.cwd() / out_dir
    specs = _spec_paths(root, files)
    try:
        if parameter_overrides:
            template = sam.build_template(load_project(root, specs), root)
            problems = check_parameter_values(template.get("Parameters") or {}, parameter_overrides, template)
            if problems:
                _fail("\n".join(f"--parameter-overrides: {problem}" for problem in problems))
        result = compile_project(root, target, specs, parameter_overrides=parameter_overrides)
    except SpecErrors as exc:
        _report(exc.errors)
        return
    if files:
        (result.out_dir / freshness.MANIFEST).unlink(missing_ok=True)   # a partial build: `run` recompiles
    elif result.out_dir.resolve() == (root / "build").resolve():
        freshness.write_manifest(root, result.out_dir)    # the whole project: `run` need not recompile
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


# Output file extension → graph language; image formats are rendered by Graphviz `dot -T<format>`.
_TEXT_FORMATS = {".mmd": "mermaid", ".mermaid": "mermaid", ".dot": "dot", ".gv": "dot"}
_IMAGE_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".jpg": "jpg", ".jpeg": "jpg", ".gif": "gif",
                  ".ps": "ps", ".eps": "eps", ".webp": "webp"}


def _graph_format(output: Path | None, fmt: str | None) -> tuple[str, str | None]:
    """(graph language, image format or None) for -o/--format, or exit 2 when they name nothing we write."""
    if output is None:
        return fmt or "mermaid", None
    suffix = output.suffix.lower()
    if suffix in _IMAGE_FORMATS:
        if fmt == "mermaid":
            _fail(f"{output}: {suffix} is rendered from Graphviz, not Mermaid (drop --format, or write .mmd)")
        return "dot", _IMAGE_FORMATS[suffix]
    if suffix in _TEXT_FORMATS:
        if fmt is not None and fmt != _TEXT_FORMATS[suffix]:
            _fail(f"{output}: a {suffix} file holds {_TEXT_FORMATS[suffix]}, not {fmt} (match -o to --format)")
        return _TEXT_FORMATS[suffix], None
    known = ", ".join([*_TEXT_FORMATS, *_IMAGE_FORMATS])
    _fail(f"{output}: cannot tell the graph format from '{suffix or 'no extension'}' (write one of {known})")
    raise AssertionError  # unreachable: _fail exits


@click.command()
@click.argument("workflow")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "dot"]), default=None,
              help="Graph language on stdout (default mermaid); with -o the extension decides.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here instead of stdout: .mmd/.mermaid (Mermaid), .dot/.gv (Graphviz), or an image "
                   "(.svg .png .pdf .jpg .gif …) rendered by Graphviz `dot`; any other extension is refused.")
@click.option("--execution", metavar="NAME",
              help="Color the path of a past local run of this workflow (.stepsmith/executions/NAME.json): "
                   "green ran, yellow failed and was caught, red where it failed.")
def graph(workflow: str, fmt: str | None, output: Path | None, execution: str | None) -> None:
    """Draw WORKFLOW (its name, file name or path) as Mermaid, Graphviz or an image, optionally with a run's path."""
    from compiler import SpecErrors, find_project_root, load_workflow
    from compiler.graph import ExecutionMismatch, execution_overlay, to_dot, to_mermaid
    from compiler.lookup import WorkflowNotFound, resolve_workflow

    language, image = _graph_format(output, fmt)
    root = find_project_root()
    try:
        ref = resolve_workflow(root, workflow)
    except WorkflowNotFound as error:
        _fail(str(error))
        return
    if ref.spec is None:
        _fail(f"no workflow '{workflow}' (no workflows/{workflow}.yaml, and no spec there is named '{workflow}')")
        return
    try:
        model = load_workflow(ref.spec, root)
    except SpecErrors as exc:
        _report(exc.errors)
        return
    overlay = None
    if execution:
        record = root / ".stepsmith" / "executions" / f"{execution}.json"
        if "/" in execution or execution.startswith(".") or not record.is_file():
            _fail(f"no execution '{execution}' ({record} not found; see `stepsmith history`)")
        try:
            overlay = execution_overlay(model, record)
        except ExecutionMismatch as error:
            _fail(f"{error}; draw that workflow instead, or pick one of this workflow's runs")
        except ValueError as error:
            _fail(f"{record}: not an execution record ({error})")
    text = to_dot(model, overlay) if language == "dot" else to_mermaid(model, overlay)
    if output is None:
        click.echo(text, nl=False)
        return
    if image:
        dot = shutil.which("dot")
        if dot is None:
            _fail(f"{output}: rendering {output.suffix} needs Graphviz `dot` on PATH "
                  "(install graphviz, or write .dot/.mmd instead)")
        done = subprocess.run([dot, f"-T{image}", "-o", str(output)], input=text.encode(),
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
