"""Is build/ what the sources compile to now? A manifest of the sources it was compiled from says.

Modification times alone miss a deleted spec and a build made from some specs only (`stepsmith compile
workflows/a.yaml`), so the manifest keeps the list of source files with their times and sizes, and
which specs were left out because they had errors (and why).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

MANIFEST = ".sources.json"
SOURCE_FOLDERS = ("workflows", "handlers", "images")


def source_fingerprint(root: Path) -> str:
    """A digest of every source file's path, size and modification time."""
    digest = hashlib.sha256()
    for folder in SOURCE_FOLDERS:
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                stat = path.stat()
                digest.update(f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n"
                              .encode())
    return digest.hexdigest()


def write_manifest(root: Path, out_dir: Path, skipped: dict[str, list[str]] | None = None) -> None:
    """Record that `out_dir` holds the whole project as it is now, less the `skipped` specs (→ their errors)."""
    document = {"fingerprint": source_fingerprint(root), "skipped": skipped or {},
                "template": _template_digest(out_dir)}
    (out_dir / MANIFEST).write_text(json.dumps(document, indent=1, sort_keys=True), encoding="utf-8")


def read_manifest(out_dir: Path) -> dict | None:
    """The manifest of `out_dir`, or None when there is none (a partial or hand-made build)."""
    try:
        document = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def is_current(root: Path, out_dir: Path) -> bool:
    """True when `out_dir` was compiled from exactly the sources there are now."""
    manifest = read_manifest(out_dir)
    # The template's digest catches a build rewritten since by other means (a compile of some specs).
    return manifest is not None and manifest.get("fingerprint") == source_fingerprint(root) \
        and manifest.get("template") == _template_digest(out_dir)


def _template_digest(out_dir: Path) -> str | None:
    try:
        return hashlib.sha256((out_dir / "template.yaml").read_bytes()).hexdigest()
    except OSError:
        return None
