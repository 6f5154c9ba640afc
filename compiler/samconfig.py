"""samconfig.toml, read the way SAM CLI reads it: `[<env>.<section>.parameters]` tables, `global` first.

One reader for every command (and the compiler) that takes values from samconfig, so they agree on
which environment and which section wins.
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

DEFAULT_ENV = "default"
CONFIG_FILE = "samconfig.toml"


class SamConfigError(Exception):
    """samconfig.toml cannot be used as asked; the message names the file and what to do."""


def read_samconfig(root: Path, env: str = DEFAULT_ENV, sections: tuple[str, ...] = (),
                   config_file: Path | None = None) -> dict[str, Any]:
    """The parameters of environment `env`: `[env.global.parameters]`, then each of `sections` in order,
    later ones winning (SAM's precedence). No file: {}. An unknown `env` other than "default" raises."""
    path = config_file or root / CONFIG_FILE
    if not path.is_file():
        if config_file is not None or env != DEFAULT_ENV:
            raise SamConfigError(f"{path}: no such file (--config-env {env} needs a samconfig.toml)")
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise SamConfigError(f"{path}: not valid TOML: {error}") from None
    environment = document.get(env)
    if environment is None:
        if env == DEFAULT_ENV:
            return {}
        known = ", ".join(sorted(key for key, value in document.items() if isinstance(value, dict))) or "none"
        raise SamConfigError(f"{path}: no environment [{env}] (environments: {known})")
    merged: dict[str, Any] = {}
    for section in ("global", *sections):
        table = (environment.get(section) or {}).get("parameters") or {}
        merged.update(table)
    return merged


def parameter_overrides_text(value: Any) -> tuple[str, ...]:
    """samconfig's `parameter_overrides` (one string, or a list of `K=V` strings) as CLI values."""
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(item) for item in value)
    return (str(value),)
