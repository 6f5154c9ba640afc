"""Where a SageMaker image's code lives locally, and the Python environment it runs in.

On AWS a training job or a model names an ECR image URI. Locally that URI resolves to the project's
`images/<name>/` folder (its Dockerfile is what `docker build` would use):

    image_folder("123456789012.dkr.ecr.us-east-1.amazonaws.com/review-classifier:latest", root)
        → root/images/review-classifier

An ECR repository named `<name>` or ending in `/<name>` or `-<name>` (a stack prefix) resolves to
`images/<name>/`; `images/<name>` (a path) is accepted too. The image's code is the folder its Dockerfile
copies to `/opt/ml/code` (`COPY images/<name>/code/ /opt/ml/code/`), else the image folder itself.

Each image runs in its own virtual environment built from its `requirements.txt`, never in the project's
(an image pins its own numpy, mxnet, …). Environments are cached by the hash of the requirements and the
Python version under `$STEPSMITH_CACHE` (default `~/.cache/stepsmith`), so a second job reuses the first
one's, across runs and projects.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_ECR = re.compile(r"^(?P<registry>\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?)/(?P<repo>[a-z0-9._/-]+)"
                  r"(?::(?P<tag>[\w.-]+)|@(?P<digest>sha256:[a-f0-9]{64}))?$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_COPY = re.compile(r"^\s*COPY\s+(?:--\S+\s+)*(?P<src>\S+)\s+(?P<dst>\S+)\s*$", re.IGNORECASE)
CODE_DIR_IN_IMAGE = "/opt/ml/code"


class ImageError(Exception):
    """An image URI that names no local image folder, or an environment that cannot be built."""


@dataclass(frozen=True)
class LocalImage:
    """An image as the local SageMaker runs it: its folder, its code folder and its requirements."""

    name: str
    folder: Path
    code_dir: Path
    requirements: Path | None


def _untagged(uri: str) -> str:
    head, _, tag = uri.rpartition(":")
    return head if head and "/" not in tag else uri.split("@")[0]


def image_folder(uri: str, root: str | Path, known: dict[str, Path] | None = None) -> Path:
    """The `images/<name>/` folder an ECR image URI (or `images/<name>` path) stands for under `root`.

    `known` maps the URIs of the stack's own repositories (the compiled template's, whose names
    CloudFormation generates) to their folders; any tag of such a repository resolves to its folder."""
    root = Path(root).resolve()
    images = root / "images"
    text = uri.strip()
    for known_uri, folder in (known or {}).items():
        if _untagged(known_uri) == _untagged(text):
            return Path(folder)
    match = _ECR.match(text)
    if match is not None:
        repo = match["repo"]
        known = sorted((p.name for p in images.iterdir() if (p / "Dockerfile").is_file()), key=len, reverse=True) \
            if images.is_dir() else []
        for name in known:
            if repo == name or repo.endswith((f"/{name}", f"-{name}")):
                return images / name
        raise ImageError(f"image {uri}: no images/<name>/Dockerfile under {root} matches ECR repository "
                         f"'{repo}' (the repository must be named <name>, or end in /<name> or -<name>)")
    relative = text.removeprefix("./").rstrip("/")
    parts = relative.split("/")
    if len(parts) == 2 and parts[0] == "images" and _NAME.match(parts[1]):
        folder = images / parts[1]
        if (folder / "Dockerfile").is_file():
            return folder
        raise ImageError(f"image {uri}: {folder}/Dockerfile does not exist")
    raise ImageError(f"image {uri!r} is neither an ECR image URI "
                     "(<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag]) nor images/<name>")


def local_image(uri: str, root: str | Path, known: dict[str, Path] | None = None) -> LocalImage:
    """Resolve an image URI to its folder, code folder (what the Dockerfile copies to /opt/ml/code)."""
    folder = image_folder(uri, root, known)
    root = Path(root).resolve()
    code_dir = folder
    for line in (folder / "Dockerfile").read_text(encoding="utf-8").splitlines():
        match = _COPY.match(line)
        if match and match["dst"].rstrip("/") == CODE_DIR_IN_IMAGE:
            # The build context is the repository root: the source must stay inside it (no `..`); a
            # symlinked folder inside it is read through (a test project may link images/).
            source = Path(os.path.normpath(root / match["src"]))
            if not source.is_dir() or not source.is_relative_to(root):
                raise ImageError(f"{folder / 'Dockerfile'}: COPY {match['src']} {CODE_DIR_IN_IMAGE}: "
                                 f"{source} is not a folder of the project (the build context is its root)")
            code_dir = source
    requirements = folder / "requirements.txt"
    return LocalImage(folder.name, folder, code_dir, requirements if requirements.is_file() else None)


def cache_root() -> Path:
    """Where image environments are cached: $STEPSMITH_CACHE, else ~/.cache/stepsmith."""
    configured = os.environ.get("STEPSMITH_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stepsmith"


def environment_key(image: LocalImage) -> str:
    """The cache key of an image's environment: its requirements and the Python that runs them."""
    digest = hashlib.sha256()
    digest.update(f"{sys.version_info.major}.{sys.version_info.minor} {sys.platform}\n".encode())
    if image.requirements is not None:
        digest.update("\n".join(_requirement_lines(image.requirements)).encode())
    return f"{image.name}-{digest.hexdigest()[:16]}"


@dataclass(frozen=True)
class ImageEnvironment:
    """A built environment: its Python, and how long building it took (0 when it came from the cache)."""

    python: Path
    build_seconds: float


def image_python(image: LocalImage, *, log: Path | None = None) -> ImageEnvironment:
    """The Python of the image's environment, built first if the cache has none (safe across processes)."""
    target = cache_root() / "venvs" / environment_key(image)
    python = target / "bin" / "python"
    if (target / ".complete").exists():
        return ImageEnvironment(python, 0.0)
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / f"{target.name}.lock"):
        if (target / ".complete").exists():      # another process built it while we waited
            return ImageEnvironment(python, 0.0)
        started = time.monotonic()
        partial = target.parent / f"{target.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        base = getattr(sys, "_base_executable", sys.executable)
        needs_pip = image.requirements is not None and _has_requirements(image.requirements)
        _run([base, "-m", "venv", *([] if needs_pip else ["--without-pip"]), str(partial)], image, log)
        if needs_pip:
            _run([str(partial / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                  "-r", str(image.requirements)], image, log)
        (partial / ".complete").write_text(image.requirements.read_text(encoding="utf-8")
                                           if image.requirements else "", encoding="utf-8")
        partial.rename(target)   # venvs locate themselves from bin/python's path, so a moved one works
        return ImageEnvironment(python, time.monotonic() - started)


def _requirement_lines(path: Path) -> list[str]:
    # Comments and blank lines do not change what gets installed, so they do not change the cache key.
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line]


def _has_requirements(path: Path) -> bool:
    return bool(_requirement_lines(path))


def _run(command: list[str], image: LocalImage, log: Path | None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if log is not None:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(result.stdout + result.stderr)
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise ImageError(f"building the environment of image {image.name} from {image.requirements} failed: "
                         + " | ".join(tail))


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
