"""`stepsmith invoke-endpoint` and `stepsmith logs`: the local SageMaker from the command line.

    stepsmith invoke-endpoint review-classifier --body @photo.jpg          # prints the model's answer
    stepsmith logs review-classifier                                       # an endpoint's, a job's log
    stepsmith logs retrain-2026-12-04 --follow

Both read the records under `.stepsmith/sagemaker/` that `stepsmith run` leaves, so an endpoint created
by one run answers here, as a deployed endpoint answers any client.
"""
from __future__ import annotations

import mimetypes
import sys
import time
from pathlib import Path

import click

from engine.commands import STATE_DIR, _fail, find_root

# What a file's extension says it is, as SageMaker clients send it (images: application/x-image).
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


def _read_body(body: str) -> tuple[bytes, str | None]:
    if not body.startswith("@"):
        return body.encode("utf-8"), None
    path = Path(body[1:])
    if not path.is_file():
        _fail(f"--body {body}: {path} is not a file (use @path/to/file, or give the body as text)")
    suffix = path.suffix.lower()
    if suffix in _IMAGE_SUFFIXES:
        return path.read_bytes(), "application/x-image"
    guessed = "application/jsonlines" if suffix == ".jsonl" else mimetypes.guess_type(path.name)[0]
    return path.read_bytes(), guessed


@click.command("invoke-endpoint")
@click.argument("name")
@click.option("--body", required=True, metavar="TEXT|@FILE", help="The request body: text, or @path to a file.")
@click.option("--content-type", help="Content-Type (default: from the file's extension; images are "
              "application/x-image; text is application/json).")
@click.option("--accept", default="application/json", show_default=True, help="Accept: the answer's type.")
@click.option("--target-variant", help="Send to this production variant instead of by weight.")
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the answer to this file instead of standard output.")
def invoke_endpoint(name: str, body: str, content_type: str | None, accept: str, target_variant: str | None,
                    out_file: Path | None) -> None:
    """Send one request to a local SageMaker endpoint (sagemaker-runtime InvokeEndpoint) and print the answer.

    Exit code 0 with the answer; 1 when the model fails (ModelError); 2 when the endpoint is missing or not
    InService (ValidationError).
    """
    from botocore.exceptions import ClientError

    from engine.aws import LocalAWS

    data, guessed = _read_body(body)
    root = find_root()
    # S3 is not needed to answer a request: nothing is loaded, nothing saved.
    with LocalAWS(root / STATE_DIR, persist=False) as aws:
        arguments = {"EndpointName": name, "Body": data, "Accept": accept,
                     "ContentType": content_type or guessed or "application/json"}
        if target_variant:
            arguments["TargetVariant"] = target_variant
        try:
            answer = aws.client("sagemaker-runtime").invoke_endpoint(**arguments)
        except ClientError as error:
            code = error.response["Error"]["Code"]
            _fail(f"{code}: {error.response['Error'].get('Message', '')}", 1 if code == "ModelError" else 2)
        result = answer["Body"].read()
    if out_file is not None:
        out_file.write_bytes(result)
        click.echo(f"{len(result)} bytes ({answer['ContentType']}) from variant "
                   f"{answer['InvokedProductionVariant']} written to {out_file}", err=True)
        return
    sys.stdout.buffer.write(result)
    if not result.endswith(b"\n"):
        sys.stdout.buffer.write(b"\n")


@click.command("logs")
@click.argument("name")
@click.option("--kind", type=click.Choice(["training-job", "endpoint", "transform-job"]),
              help="Which log, when a training job, an endpoint and a transform job share the name.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines as they are written (Ctrl-C stops).")
def logs(name: str, kind: str | None, follow: bool) -> None:
    """Print the log of a local SageMaker training job, endpoint or transform job.

    The logs are kept in .stepsmith/sagemaker/logs/<TrainingJobs|Endpoints|TransformJobs>/<name>.log, as
    CloudWatch keeps them in /aws/sagemaker/<group>/<name>.
    """
    folder = find_root() / STATE_DIR / "sagemaker" / "logs"
    groups = {"training-job": "TrainingJobs", "endpoint": "Endpoints", "transform-job": "TransformJobs"}
    wanted = [groups[kind]] if kind else list(groups.values())
    found = [folder / group / f"{name.lower()}.log" for group in wanted
             if (folder / group / f"{name.lower()}.log").is_file()]
    if not found:
        _fail(f"no local SageMaker log named {name} in {folder} (training jobs, endpoints and transform jobs "
              "write theirs there)")
    if len(found) > 1:
        _fail(f"{name} names several logs ({', '.join(p.parent.name for p in found)}): choose one with --kind")
    with open(found[0], encoding="utf-8", errors="replace") as handle:
        sys.stdout.write(handle.read())
        while follow:
            line = handle.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                time.sleep(0.2)
