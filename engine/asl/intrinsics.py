"""ASL intrinsic functions (`States.Format(...)`, `States.ArrayRange(...)`, …), parsed once per text.

`compile_intrinsic(text)` turns the call into an `Intrinsic` tree whose `evaluate()` reads its path
arguments from the state input, the context object or workflow variables. Runtime failures raise
`IntrinsicError` with the error name and cause text AWS reports ("Invalid arguments in States.X").
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import uuid
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any

from engine.asl.jsonpath import PathSyntaxError, compile_path

__all__ = [
    "FUNCTIONS",
    "Intrinsic",
    "IntrinsicError",
    "IntrinsicSyntaxError",
    "compile_intrinsic",
    "is_intrinsic",
]

_MAX_NESTING = 10  # AWS: "You can nest up to 10 intrinsic functions within a field"
_MAX_TEXT = 10000  # input limit of Base64Encode/Base64Decode/Hash
_MAX_RANGE = 1000  # ArrayRange result limit
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


class IntrinsicError(Exception):
    """An intrinsic that failed at run time; `error` and `cause` are what AWS reports.

    The interpreter prefixes the cause with "An error occurred while executing the state ...".
    """

    def __init__(self, cause: str, error: str = "States.Runtime") -> None:
        super().__init__(cause)
        self.error = error
        self.cause = cause


class IntrinsicSyntaxError(Exception):
    """The text is not a valid intrinsic call (AWS rejects the definition)."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"Invalid intrinsic function '{text}': {reason}")
        self.text = text
        self.reason = reason


def _invalid(name: str) -> IntrinsicError:
    return IntrinsicError(f"Invalid arguments in {name}")


# --------------------------------------------------------------------------- value helpers


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: unlike Python's ==, true is not 1 and 1 is 1.0."""
    if _is_number(a) and _is_number(b):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _truncated(v: Any, name: str) -> int:
    """A numeric argument as AWS's Java code reads it: fractions truncated toward zero."""
    if not _is_number(v):
        raise _invalid(name)
    return int(v)


def _rounded(v: Any, name: str) -> int:
    """Java's Math.round: halves go up (-1.5 -> -1, 1.5 -> 2)."""
    if not _is_number(v):
        raise _invalid(name)
    # A float's exact binary value rounds as its shortest decimal text would: every k + 0.5 is a float.
    return int((Decimal(v) + Decimal("0.5")).to_integral_value(rounding="ROUND_FLOOR"))


def _java_double(x: float) -> str:
    """Java's Double.toString: plain between 1e-3 and 1e7, else d.dddE±n."""
    if x == 0 or 1e-3 <= abs(x) < 1e7:
        return repr(x)  # Python writes an exponent only below 1e-4 or from 1e16: plain here, as Java
    sign, digits, exponent = Decimal(repr(x)).as_tuple()
    ds = "".join(map(str, digits)).rstrip("0") or "0"
    power = len(digits) + int(exponent) - 1
    return ("-" if sign else "") + ds[0] + "." + (ds[1:] or "0") + "E" + str(power)


def _to_text(v: Any) -> str:
    """How States.Format prints a value: Java's toString of the parsed JSON (maps as {k=v, …})."""
    if isinstance(v, str):
        return v
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _java_double(v)
    if isinstance(v, list):
        return "[" + ", ".join(_to_text(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}={_to_text(x)}" for k, x in v.items()) + "}"
    return str(v)


# --------------------------------------------------------------------------- the functions
# Each takes the evaluated argument list; arity is checked when the call is compiled.


def _format(args: list[Any]) -> str:
    template, values = args[0], args[1:]
    name = "States.Format"
    if not isinstance(template, _Template):
        if not isinstance(template, str):
            raise _invalid(name)
        template = _Template.parse(template)
    if template.placeholders != len(values):
        raise _invalid(name)
    out = []
    it = iter(values)
    for piece in template.pieces:
        out.append(_to_text(next(it)) if piece is None else piece)
    return "".join(out)


def _string_to_json(args: list[Any]) -> Any:
    (text,) = args
    if not isinstance(text, str):
        raise _invalid("States.StringToJson")
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise _invalid("States.StringToJson") from None


def _json_to_string(args: list[Any]) -> str:
    return json.dumps(args[0], separators=(",", ":"), ensure_ascii=False)


def _array(args: list[Any]) -> list[Any]:
    return list(args)


def _array_partition(args: list[Any]) -> list[list[Any]]:
    array, size = args
    name = "States.ArrayPartition"
    n = _truncated(size, name)
    if not isinstance(array, list) or n <= 0:
        raise _invalid(name)
    return [array[i:i + n] for i in range(0, len(array), n)]


def _array_contains(args: list[Any]) -> bool:
    array, value = args
    if not isinstance(array, list):
        raise _invalid("States.ArrayContains")
    return any(_same(x, value) for x in array)


def _array_range(args: list[Any]) -> list[int]:
    name = "States.ArrayRange"
    start, end, step = (_truncated(a, name) for a in args)
    if step == 0:
        raise _invalid(name)
    count = max(0, (end - start) // step + 1)
    if count > _MAX_RANGE:
        raise _invalid(name)
    return list(range(start, end + (1 if step > 0 else -1), step))


def _array_get_item(args: list[Any]) -> Any:
    array, index = args
    name = "States.ArrayGetItem"
    if not isinstance(array, list) or not _is_number(index) or index != int(index):
        raise _invalid(name)
    i = int(index)
    if not 0 <= i < len(array):
        raise _invalid(name)
    return array[i]


def _array_length(args: list[Any]) -> int:
    (array,) = args
    if not isinstance(array, list):
        raise _invalid("States.ArrayLength")
    return len(array)


def _array_unique(args: list[Any]) -> list[Any]:
    (array,) = args
    if not isinstance(array, list):
        raise _invalid("States.ArrayUnique")
    out: list[Any] = []
    for item in array:
        if not any(_same(item, seen) for seen in out):
            out.append(item)
    return out


def _base64_encode(args: list[Any]) -> str:
    (text,) = args
    if not isinstance(text, str) or len(text) > _MAX_TEXT:
        raise _invalid("States.Base64Encode")
    return base64.b64encode(text.encode()).decode()


def _base64_decode(args: list[Any]) -> str:
    (text,) = args
    name = "States.Base64Decode"
    if not isinstance(text, str) or len(text) > _MAX_TEXT:
        raise _invalid(name)
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise _invalid(name) from None


_HASHES = {"MD5": "md5", "SHA-1": "sha1", "SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def _hash(args: list[Any]) -> str:
    data, algorithm = args
    name = "States.Hash"
    if not isinstance(data, str) or len(data) > _MAX_TEXT or algorithm not in _HASHES:
        raise _invalid(name)
    return hashlib.new(_HASHES[algorithm], data.encode()).hexdigest()


def _json_merge(args: list[Any]) -> dict[str, Any]:
    left, right, deep = args
    # AWS only supports shallow merges; `true` is rejected.
    if not isinstance(left, dict) or not isinstance(right, dict) or deep is not False:
        raise _invalid("States.JsonMerge")
    return {**left, **right}


def _math_random(args: list[Any]) -> int:
    name = "States.MathRandom"
    start, end = _truncated(args[0], name), _truncated(args[1], name)
    if start >= end:
        raise _invalid(name)
    if len(args) == 3:
        return random.Random(_truncated(args[2], name)).randrange(start, end)
    return random.randrange(start, end)


def _math_add(args: list[Any]) -> int:
    name = "States.MathAdd"
    a, b = (_rounded(v, name) for v in args)
    if not (_INT_MIN <= a <= _INT_MAX and _INT_MIN <= b <= _INT_MAX):
        raise _invalid(name)
    return a + b


def _string_split(args: list[Any]) -> list[str]:
    text, delimiters = args
    if not isinstance(text, str) or not isinstance(delimiters, str):
        raise _invalid("States.StringSplit")
    # Java's StringTokenizer: every character of the delimiter splits, empty tokens are dropped.
    tokens, current = [], []
    for ch in text:
        if ch in delimiters:
            if current:
                tokens.append("".join(current))
                current = []
        else:
            current.append(ch)
    if current:
        tokens.append("".join(current))
    return tokens


def _uuid(args: list[Any]) -> str:
    return str(uuid.uuid4())


# name -> (function, min arity, max arity)
FUNCTIONS: dict[str, tuple[Callable[[list[Any]], Any], int, int]] = {
    "States.Format": (_format, 1, 1 << 30),
    "States.StringToJson": (_string_to_json, 1, 1),
    "States.JsonToString": (_json_to_string, 1, 1),
    "States.Array": (_array, 0, 1 << 30),
    "States.ArrayPartition": (_array_partition, 2, 2),
    "States.ArrayContains": (_array_contains, 2, 2),
    "States.ArrayRange": (_array_range, 3, 3),
    "States.ArrayGetItem": (_array_get_item, 2, 2),
    "States.ArrayLength": (_array_length, 1, 1),
    "States.ArrayUnique": (_array_unique, 1, 1),
    "States.Base64Encode": (_base64_encode, 1, 1),
    "States.Base64Decode": (_base64_decode, 1, 1),
    "States.Hash": (_hash, 2, 2),
    "States.JsonMerge": (_json_merge, 3, 3),
    "States.MathRandom": (_math_random, 2, 3),
    "States.MathAdd": (_math_add, 2, 2),
    "States.StringSplit": (_string_split, 2, 2),
    "States.UUID": (_uuid, 0, 0),
}


# Arguments that must be numbers: a string literal there can never work, so the definition is refused.
_NUMERIC_ARGUMENTS: dict[str, tuple[int, ...]] = {
    "States.MathAdd": (0, 1), "States.MathRandom": (0, 1, 2), "States.ArrayRange": (0, 1, 2),
    "States.ArrayPartition": (1,), "States.ArrayGetItem": (1,),
}


# --------------------------------------------------------------------------- the compiled tree


class _Template:
    """A States.Format template literal split into text pieces and `{}` holes (None)."""

    __slots__ = ("pieces", "placeholders")

    def __init__(self, pieces: list[str | None]) -> None:
        self.pieces = pieces
        self.placeholders = sum(1 for p in pieces if p is None)

    @classmethod
    def parse(cls, text: str) -> _Template:
        # A runtime (path) template has no escapes: every "{}" is a hole.
        parts = text.split("{}")
        pieces: list[str | None] = []
        for i, part in enumerate(parts):
            if i:
                pieces.append(None)
            if part:
                pieces.append(part)
        return cls(pieces)


class Intrinsic:
    """A compiled intrinsic call; `evaluate()` computes its value."""

    __slots__ = ("_fn", "args", "name", "text")

    def __init__(self, text: str, name: str, args: list[Callable[[Any, Any, Any], Any]]) -> None:
        self.text = text
        self.name = name
        self.args = args
        self._fn = FUNCTIONS[name][0]

    def __repr__(self) -> str:
        return f"Intrinsic({self.text!r})"

    def evaluate(self, data: Any, context: Any = None, variables: dict[str, Any] | None = None) -> Any:
        """The call's value; path arguments read `data` ($), `context` ($$) and `variables` ($name)."""
        return self._fn([arg(data, context, variables) for arg in self.args])

    __call__ = evaluate


def is_intrinsic(text: Any) -> bool:
    """True when `text` is shaped like an intrinsic call: `States.Name(...)`."""
    if not isinstance(text, str) or not text.startswith("States."):
        return False
    paren = text.find("(")
    return paren > 7 and text[:paren].strip() in FUNCTIONS and text.rstrip().endswith(")")


@lru_cache(maxsize=2048)
def compile_intrinsic(text: str) -> Intrinsic:
    """Parse an intrinsic call once (cached by text); IntrinsicSyntaxError when malformed."""
    parser = _Parser(text)
    parser.skip_blanks()
    call = parser.call(depth=1)
    parser.skip_blanks()
    if parser.pos != len(text):
        raise parser.fail("unexpected text after the call")
    return call


def _constant(value: Any) -> Callable[[Any, Any, Any], Any]:
    return lambda data, context, variables: value


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, reason: str) -> IntrinsicSyntaxError:
        return IntrinsicSyntaxError(self.text, f"{reason} (at position {self.pos})")

    def skip_blanks(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t\n\r":
            self.pos += 1

    def call(self, depth: int) -> Intrinsic:
        text, start = self.text, self.pos
        if depth > _MAX_NESTING:
            raise self.fail(f"more than {_MAX_NESTING} nested intrinsic functions")
        paren = text.find("(", start)
        if paren < 0:
            raise self.fail("expected '('")
        name = text[start:paren].strip()
        if name not in FUNCTIONS:
            raise self.fail(f"unknown intrinsic function {name}")
        self.pos = paren + 1
        args: list[Callable[[Any, Any, Any], Any]] = []
        self.skip_blanks()
        if self.pos < len(text) and text[self.pos] == ")":
            self.pos += 1
        else:
            while True:
                self.skip_blanks()
                args.append(self.argument(name, len(args), depth))
                self.skip_blanks()
                if self.pos >= len(text):
                    raise self.fail("missing ')'")
                if text[self.pos] == ",":
                    self.pos += 1
                    continue
                if text[self.pos] == ")":
                    self.pos += 1
                    break
                raise self.fail(f"unexpected {text[self.pos]!r}")
        _, least, most = FUNCTIONS[name]
        if not least <= len(args) <= most:
            expected = str(least) if least == most else f"{least} to {most}" if most < 1 << 30 else f"{least}+"
            raise self.fail(f"{name} takes {expected} arguments, not {len(args)}")
        return Intrinsic(text[start:self.pos], name, args)

    def argument(self, function: str, index: int, depth: int) -> Callable[[Any, Any, Any], Any]:
        text = self.text
        if self.pos >= len(text):
            raise self.fail("missing argument")
        c = text[self.pos]
        if c == "'":
            raw = self.string_literal()
            if index in _NUMERIC_ARGUMENTS.get(function, ()):
                raise self.fail(f"argument {index + 1} of {function} must be a number, not a string")
            if function == "States.Format" and index == 0:
                return _constant(_format_template(raw))
            return _constant(_unescape(raw))
        if c == "$":
            return self.path()
        if text.startswith("States.", self.pos):
            inner = self.call(depth + 1)
            return inner.evaluate
        end = self.pos
        while end < len(text) and text[end] not in ",) \t\n\r":
            end += 1
        word = text[self.pos:end]
        if not word:
            raise self.fail("missing argument")
        try:
            value = json.loads(word)
        except ValueError:
            raise self.fail(f"invalid argument {word!r}") from None
        if isinstance(value, (dict, list, str)):
            raise self.fail(f"invalid argument {word!r}")
        self.pos = end
        return _constant(value)

    def string_literal(self) -> str:
        """The raw text between single quotes; a backslash escapes the next character."""
        text = self.text
        i = self.pos + 1
        while i < len(text):
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == "'":
                raw = text[self.pos + 1:i]
                self.pos = i + 1
                return raw
            i += 1
        raise self.fail("unterminated string literal")

    def path(self) -> Callable[[Any, Any, Any], Any]:
        # A path runs to the next ',' or ')' outside brackets, quotes and parentheses of its own.
        text, start = self.text, self.pos
        depth, quote, i = 0, "", start
        while i < len(text):
            ch = text[i]
            if quote:
                if ch == "\\":
                    i += 1
                elif ch == quote:
                    quote = ""
            elif ch in "'\"":
                quote = ch
            elif ch in "[(":
                depth += 1
            elif ch in "])":
                if depth == 0:
                    break
                depth -= 1
            elif ch == "," and depth == 0:
                break
            i += 1
        source = text[start:i].rstrip()
        self.pos = i
        try:
            path = compile_path(source)
        except PathSyntaxError as exc:
            raise self.fail(f"invalid path argument {source!r}: {exc.reason}") from None
        return path.get


_ESCAPES = {"'": "'", "{": "{", "}": "}", "\\": "\\"}


def _unescape(raw: str) -> str:
    # Only \' \{ \} \\ are escapes; any other backslash stays as written.
    if "\\" not in raw:
        return raw
    out, i = [], 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw) and raw[i + 1] in _ESCAPES:
            out.append(_ESCAPES[raw[i + 1]])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _format_template(raw: str) -> _Template:
    """A literal Format template: `{}` is a hole, `\\{` and `\\}` are literal braces."""
    pieces: list[str | None] = []
    buf: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw) and raw[i + 1] in _ESCAPES:
            buf.append(_ESCAPES[raw[i + 1]])
            i += 2
            continue
        if raw.startswith("{}", i):
            if buf:
                pieces.append("".join(buf))
                buf = []
            pieces.append(None)
            i += 2
            continue
        buf.append(ch)
        i += 1
    if buf:
        pieces.append("".join(buf))
    return _Template(pieces)
