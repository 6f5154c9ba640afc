"""The `stepsmith` command. Subcommands live beside the code they drive and load only when called,
so `stepsmith --help` stays fast however heavy a subcommand's imports are."""
from __future__ import annotations

import importlib

import click

# name → (module, attribute, one-line help shown by `stepsmith --help` without importing the module)
# name → (module, attribute, one-line help shown by `stepsmith --help` without importing the module).
# A new subcommand is one line here and a click command in its module.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "validate": ("compiler.cli", "validate", "Check workflow specs; report every error with file:line."),
    "compile": ("compiler.cli", "compile_", "Compile workflows to a SAM template and ASL in build/."),
    "graph": ("compiler.cli", "graph", "Draw a workflow as Mermaid, Graphviz or an image (optionally a run's path)."),
    "new": ("compiler.cli", "new", "Scaffold a workflow, its handler and a test."),
    "run": ("engine.commands", "run", "Run a workflow locally on the embedded engine and local AWS."),
    "invoke": ("engine.invoke", "invoke", "Invoke one step's handler as Lambda would (like `sam local invoke`)."),
    "exec": ("engine.commands", "exec_", "Run a raw ASL document locally (no project needed)."),
    "history": ("engine.commands", "history", "List past local executions, or show one event by event."),
    "s3": ("engine.s3_commands", "s3", "List, copy and stage objects in local S3 (as `aws s3`)."),
    "published": ("engine.aws.chaining", "published",
                  "Show what a local execution published (SNS, SQS, events) and the executions it started."),
    "sam-invoke": ("engine.samlocal", "sam_invoke",
                   "Print the `sam local invoke` line for a Lambda step of a past local execution."),
    "local-aws": ("engine.samlocal", "local_aws",
                  "Serve the project's local AWS on 127.0.0.1 for `sam local invoke` and other tools."),
    "send-task": ("engine.commands", "send_task", "Send task success/failure/heartbeat to a waiting task."),
    "serve": ("engine.serve", "serve", "Serve API-triggered workflows on 127.0.0.1, like `sam local start-api`."),
    "idp": ("engine.idp", "idp", "A test SAML identity provider: make signed SAMLResponses."),
    "invoke-endpoint": ("engine.sagemaker_commands", "invoke_endpoint",
                        "Send a request to a local SageMaker endpoint and print the answer."),
    "logs": ("engine.sagemaker_commands", "logs", "Print a local SageMaker training job's, endpoint's or transform's log."),
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, _, help_) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="stepsmith", prog_name="stepsmith")
def main() -> None:
    """Stepsmith: declarative AWS Step Functions workflows, compiled to SAM and runnable offline."""


if __name__ == "__main__":  # `python -m engine.cli`, e.g. from a test without the console script on PATH
    main()
