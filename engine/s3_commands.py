"""`stepsmith s3 ls | cp | mb`: local S3 with the AWS CLI's conventions, on the files under .stepsmith/s3/.

Local S3 keeps each object as a plain file, `.stepsmith/s3/<bucket>/<key>`. The workflows' buckets are
named `<stack>-<LogicalId>` in lower case (stack: samconfig.toml's stack_name, else the project folder),
e.g. `stepsmith-videosinbucket`; `stepsmith s3 ls` lists them, also before the first run, so input can
be staged with `stepsmith s3 cp` before a workflow ever ran.
"""
from __future__ import annotations

import datetime as dt
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from engine.project import STATE_DIR, find_root


def _fail(message: str, code: int = 2) -> None:
    click.echo(message, err=True)
    raise SystemExit(code)


def _s3_root() -> Path:
    return find_root() / STATE_DIR / "s3"


def _app_buckets() -> list[str]:
    """The compiled app's bucket names (none when there is no usable build/template.yaml)."""
    from engine.app import App, AppError
    from engine.project import ProjectError, compile_if_needed

    root = find_root()
    try:
        compile_if_needed(root)
        if not (root / "build" / "template.yaml").is_file():
            return []
        return sorted(App.load(root).buckets.values())
    except (ProjectError, AppError, OSError, ValueError):
        return []   # local S3 stays usable when the specs are broken; `run` says what is wrong


def _provision_buckets(base: Path) -> None:
    # As `run` provisions the stack's buckets, so do these commands: their folders exist from the start.
    for bucket in _app_buckets():
        (base / bucket).mkdir(parents=True, exist_ok=True)


def split_url(url: str, *, scheme_optional: bool = False) -> tuple[str, str]:
    """`s3://bucket/key` (or `bucket/key` where the AWS CLI takes it) → (bucket, key)."""
    if url.startswith("s3://"):
        url = url[5:]
    elif not scheme_optional:
        _fail(f"{url}: expected s3://BUCKET/KEY")
    bucket, _, key = url.partition("/")
    if not bucket:
        _fail(f"s3://{url}: no bucket name")
    return bucket, key


def _object_path(base: Path, bucket: str, key: str) -> Path:
    from engine.aws.state import safe_relative

    relative = safe_relative(key)
    if relative is None or key.endswith("/"):
        _fail(f"s3://{bucket}/{key}: local S3 keeps only keys that are file paths (no empty, '.' or '..' "
              "parts, no leading or trailing /)")
    return base / bucket / relative


def _bucket_dir(base: Path, bucket: str) -> Path:
    folder = base / bucket
    if not folder.is_dir():
        known = ", ".join(sorted(p.name for p in base.iterdir() if p.is_dir())) if base.is_dir() else ""
        _fail(f"s3://{bucket}: NoSuchBucket: the local bucket does not exist (local buckets: {known or 'none'}; "
              "`stepsmith s3 mb` makes one)")
    return folder


def _objects(folder: Path, prefix: str) -> Iterator[tuple[str, Path]]:
    from engine.aws.state import is_partial_file

    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not is_partial_file(p)):
        key = path.relative_to(folder).as_posix()
        if key.startswith(prefix):
            yield key, path


def _stamp(path: Path) -> str:
    return dt.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M:%S")


@click.group()
def s3() -> None:
    """Local S3, as the AWS CLI's `aws s3` shows it: objects are plain files under .stepsmith/s3/BUCKET/KEY.

    The workflows' buckets (<stack>-<logicalid>, lower case) exist from the first command on.
    """


@s3.command("ls")
@click.argument("path", required=False, metavar="[s3://BUCKET[/PREFIX]]")
@click.option("--recursive", is_flag=True, help="Every object under the prefix, with its whole key.")
def s3_ls(path: str | None, recursive: bool) -> None:
    """List buckets, or the objects and PRE folders under s3://BUCKET[/PREFIX] (`BUCKET` alone works too).

    As `aws s3 ls`: names relative to the prefix's folder, `PRE name/` for folders, exit 1 when nothing
    matches.
    """
    base = _s3_root()
    _provision_buckets(base)
    if path is None:
        for folder in sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []:
            click.echo(f"{_stamp(folder)} {folder.name}")
        return
    bucket, prefix = split_url(path, scheme_optional=True)
    folder = _bucket_dir(base, bucket)
    folder_part = prefix[: prefix.rfind("/") + 1]
    shown_prefixes: set[str] = set()
    found = False
    for key, file in _objects(folder, prefix):
        found = True
        if recursive:
            click.echo(f"{_stamp(file)} {file.stat().st_size:>10} {key}")
            continue
        rest = key[len(prefix):]
        if "/" in rest:
            common = key[len(folder_part): len(prefix) + rest.index("/") + 1]
            if common not in shown_prefixes:
                shown_prefixes.add(common)
                click.echo(f"{'PRE':>30} {common}")
        else:
            click.echo(f"{_stamp(file)} {file.stat().st_size:>10} {key[len(folder_part):]}")
    if not found:
        raise SystemExit(1)


@s3.command("mb")
@click.argument("url", metavar="s3://BUCKET")
def s3_mb(url: str) -> None:
    """Make a local bucket (e.g. an `external` trigger bucket, to stage input before the first run)."""
    bucket, key = split_url(url, scheme_optional=True)
    if key:
        _fail(f"{url}: a bucket name has no key part")
    (_s3_root() / bucket).mkdir(parents=True, exist_ok=True)
    click.echo(f"make_bucket: {bucket}")


@s3.command("cp")
@click.argument("source")
@click.argument("destination")
@click.option("--recursive", is_flag=True, help="Copy a folder, or every object under a prefix.")
@click.option("--quiet", is_flag=True, help="Do not print what was copied.")
def s3_cp(source: str, destination: str, recursive: bool, quiet: bool) -> None:
    """Copy between local S3 and files, as `aws s3 cp` does.

    \b
      stepsmith s3 cp clip.mp4 s3://BUCKET/in/          upload (a key ending in / keeps the file name)
      stepsmith s3 cp - s3://BUCKET/in/data.json        upload stdin
      stepsmith s3 cp s3://BUCKET/out/clip.mp4 out/     download into a folder (made if missing)
      stepsmith s3 cp s3://BUCKET/out/report.json -     download to stdout
      stepsmith s3 cp s3://A/k s3://B/k                 copy between buckets
      stepsmith s3 cp --recursive s3://BUCKET/out/ out/ every object under a prefix
    """
    from engine.aws.state import state_lock

    base = _s3_root()
    _provision_buckets(base)
    pairs = _pairs(base, source, destination, recursive)
    with state_lock(base.parent):
        for origin, target, shown in pairs:
            _copy(origin, target)
            if not quiet and "-" not in (source, destination):
                click.echo(shown)


def _pairs(base: Path, source: str, destination: str, recursive: bool) -> list[tuple[Path | str, Path | str, str]]:
    """(from, to, what to print) for each copy; '-' stands for stdin/stdout."""
    remote_source, remote_target = source.startswith("s3://"), destination.startswith("s3://")
    if source == "-" and (recursive or not remote_target):
        _fail("cp -: stdin uploads to one s3:// object")
    if destination == "-" and (recursive or not remote_source):
        _fail("cp … -: stdout takes one s3:// object")
    verb = "copy" if remote_source and remote_target else "download" if remote_source else "upload"
    if remote_source:
        bucket, key = split_url(source)
        folder = _bucket_dir(base, bucket)
        if recursive:
            prefix = key if not key or key.endswith("/") else key + "/"
            items = [(key_, path, key_[len(prefix):]) for key_, path in _objects(folder, prefix)]
        else:
            path = _object_path(base, bucket, key)
            if not path.is_file():
                _fail(f"{source}: NoSuchKey: no such object in local S3 (`stepsmith s3 ls s3://{bucket}/` "
                      "lists them)")
            items = [(key, path, key.rsplit("/", 1)[-1])]
        origins = [(path, f"s3://{bucket}/{key_}", name) for key_, path, name in items]
    elif source == "-":
        origins = [("-", "-", "")]
    else:
        local = Path(source)
        if recursive:
            if not local.is_dir():
                _fail(f"{source}: no such folder")
            origins = [(path, str(path), path.relative_to(local).as_posix())
                       for path in sorted(local.rglob("*")) if path.is_file()]
        else:
            if not local.is_file():
                _fail(f"{source}: no such file" + (" (a folder needs --recursive)" if local.is_dir() else ""))
            origins = [(local, source, local.name)]
    pairs: list[tuple[Path | str, Path | str, str]] = []
    for origin, shown_origin, name in origins:
        if destination == "-":
            target: Path | str = "-"
            shown_target = "-"
        elif remote_target:
            bucket, key = split_url(destination)
            if not (base / bucket).is_dir():
                _bucket_dir(base, bucket)
            if recursive or not key or key.endswith("/"):
                if not name:
                    _fail(f"{destination}: uploading stdin needs the whole key (s3://BUCKET/KEY)")
                key = (key if not key or key.endswith("/") else key + "/") + name
            target = _object_path(base, bucket, key)
            shown_target = f"s3://{bucket}/{key}"
        else:
            local = Path(destination)
            into_folder = recursive or destination.endswith(("/", "\\")) or local.is_dir()
            target = local / name if into_folder else local
            shown_target = str(target)
        pairs.append((origin, target, f"{verb}: {shown_origin} to {shown_target}"))
    if not pairs:
        _fail(f"{source}: nothing to copy", 1)
    return pairs


def _copy(origin: Path | str, target: Path | str) -> None:
    from engine.aws.state import atomic_writer

    source_stream = sys.stdin.buffer if origin == "-" else open(origin, "rb")  # noqa: SIM115
    try:
        if target == "-":
            shutil.copyfileobj(source_stream, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            return
        assert isinstance(target, Path)
        if target.is_dir():
            _fail(f"{target}: is a folder")
        with atomic_writer(target, "wb") as handle:
            shutil.copyfileobj(source_stream, handle)
    finally:
        if origin != "-":
            source_stream.close()
