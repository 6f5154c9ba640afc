"""Errors are values with a place: the front end collects them all and raises them once."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from compiler.model import SourcePlace


@dataclass(frozen=True, order=True)
class SpecError:
    """One problem in a spec: `workflows/x.yaml:12:5: message (hint)`."""

    place: SourcePlace | None
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = f"{self.place}: " if self.place else ""
        return f"{where}{self.message}" + (f" ({self.hint})" if self.hint else "")


class SpecErrors(Exception):
    """Every error found in one pass over the specs, in file/line order."""

    def __init__(self, errors: Iterable[SpecError]):
        self.errors = sorted(set(errors), key=_sort_key)
        super().__init__("\n".join(str(error) for error in self.errors))


def _sort_key(error: SpecError) -> tuple:
    place = error.place
    return (place.file, place.line, place.col, error.message) if place else ("", 0, 0, error.message)
