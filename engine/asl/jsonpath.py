"""ASL's JSONPath as AWS Step Functions evaluates it (Jayway semantics), parsed once per path.

A path is rooted at the state input (`$`), the context object (`$$`) or a workflow variable
(`$name`). `compile_path(text)` parses it into a `Path` whose `get()` walks plain JSON values. (ResultPath
writes through its own reference-path steps in payload.py.)
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable
from decimal import Decimal
from functools import lru_cache
from typing import Any

__all__ = [
    "Path",
    "PathError",
    "PathNotFound",
    "PathSyntaxError",
    "compile_path",
]


class PathError(Exception):
    """A path that cannot be evaluated; `error` and `cause` are what AWS reports."""

    def __init__(self, cause: str, error: str = "States.Runtime") -> None:
        super().__init__(cause)
        self.error = error
        self.cause = cause


class PathSyntaxError(PathError):
    """The text is not a valid JSONPath (AWS rejects the definition)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"Invalid path '{path}': {reason}")
        self.path = path
        self.reason = reason


class PathNotFound(PathError):
    """A definite path selected nothing. `detail` is Jayway's own text, e.g. "No results for path: $['x']"."""

    def __init__(self, path: str, detail: str) -> None:
        super().__init__(f"Invalid path '{path}' : {detail}")
        self.path = path
        self.detail = detail


_MISSING = object()
# Workflow variable names are Unicode identifiers (a letter or _, then letters, digits, _).
_VARIABLE_NAME = re.compile(r"[^\W\d]\w*")
_INT = re.compile(r"-?\d+")


# --------------------------------------------------------------------------- tokens
# Each token maps one node to the nodes it selects (`select`), and knows whether it always selects at
# most one node (`definite`) and how Jayway prints it (`text`, used in AWS's cause texts).


class _Token:
    definite = True
    reference = False  # allowed in a reference path (ResultPath, Choice Variable)
    text = ""

    def select(self, node: Any, root: Any) -> list[Any]:
        raise NotImplementedError


class _Property(_Token):
    reference = True

    def __init__(self, name: str) -> None:
        self.name = name
        self.text = "['" + name + "']"

    def select(self, node: Any, root: Any) -> list[Any]:
        if isinstance(node, dict) and self.name in node:
            return [node[self.name]]
        return []


class _Properties(_Token):
    """`['a','b']`: as the last token Jayway merges them into one object; inside a path it fans out."""

    def __init__(self, names: list[str], leaf: bool = False) -> None:
        self.names = names
        self.leaf = leaf
        self.definite = leaf
        self.text = "[" + ",".join("'" + n + "'" for n in names) + "]"

    def select(self, node: Any, root: Any) -> list[Any]:
        if not isinstance(node, dict):
            return []
        if self.leaf:
            return [{n: node[n] for n in self.names if n in node}]
        return [node[n] for n in self.names if n in node]


class _Index(_Token):
    reference = True

    def __init__(self, index: int) -> None:
        self.index = index
        self.text = f"[{index}]"

    def select(self, node: Any, root: Any) -> list[Any]:
        if isinstance(node, list):
            i = self.index
            if -len(node) <= i < len(node):
                return [node[i]]
        return []


class _Indexes(_Token):
    definite = False

    def __init__(self, indexes: list[int]) -> None:
        self.indexes = indexes
        self.text = "[" + ",".join(str(i) for i in indexes) + "]"

    def select(self, node: Any, root: Any) -> list[Any]:
        if not isinstance(node, list):
            return []
        n = len(node)
        return [node[i] for i in self.indexes if -n <= i < n]


class _Slice(_Token):
    definite = False

    def __init__(self, start: int | None, stop: int | None, step: int | None) -> None:
        self.slice = slice(start, stop, step)
        parts = ["" if v is None else str(v) for v in (start, stop)]
        self.text = "[" + ":".join(parts) + (f":{step}" if step is not None else "") + "]"

    def select(self, node: Any, root: Any) -> list[Any]:
        if isinstance(node, list):
            return node[self.slice]
        return []


class _Wildcard(_Token):
    definite = False
    text = "[*]"

    def select(self, node: Any, root: Any) -> list[Any]:
        if isinstance(node, dict):
            return list(node.values())
        if isinstance(node, list):
            return list(node)
        return []


class _Filter(_Token):
    definite = False

    def __init__(self, predicate: Callable[[Any, Any], bool], source: str) -> None:
        self.predicate = predicate
        self.text = "[?(" + source + ")]"

    def select(self, node: Any, root: Any) -> list[Any]:
        if isinstance(node, list):
            return [item for item in node if self.predicate(item, root)]
        if isinstance(node, dict) and self.predicate(node, root):
            # Jayway applies a filter on an object to the object itself.
            return [node]
        return []


class _DeepScan(_Token):
    """`..next`: applies `next` to the node and to every node below it, in document order."""

    definite = False

    def __init__(self, following: _Token) -> None:
        self.following = following
        self.text = ".." + following.text

    def select(self, node: Any, root: Any) -> list[Any]:
        out: list[Any] = []
        following = self.following
        stack = [node]
        while stack:
            current = stack.pop()
            out.extend(following.select(current, root))
            if isinstance(current, dict):
                stack.extend(reversed(list(current.values())))
            elif isinstance(current, list):
                stack.extend(reversed(current))
        return out


# --------------------------------------------------------------------------- functions


def _numbers(value: Any, name: str) -> list[float]:
    if not isinstance(value, list):
        raise PathError(f"Aggregation function attempted to calculate value using empty array ({name})")
    nums = [v for v in value if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not nums:
        raise PathError(f"Aggregation function attempted to calculate value using empty array ({name})")
    return nums


def _as_number(x: float) -> int | float:
    return int(x) if isinstance(x, float) and x.is_integer() and abs(x) < 2**63 else x


def _fn_length(value: Any) -> Any:
    if isinstance(value, (list, dict, str)):
        return len(value)
    raise PathError("Invalid function length() applied to a value that has no length")


_FUNCTIONS: dict[str, Callable[[Any], Any]] = {
    "length": _fn_length,
    "size": _fn_length,
    "min": lambda v: min(_numbers(v, "min")),
    "max": lambda v: max(_numbers(v, "max")),
    "sum": lambda v: sum(_numbers(v, "sum")),
    "avg": lambda v: _as_number(float(statistics.fmean(_numbers(v, "avg")))),
    "stddev": lambda v: _as_number(float(statistics.pstdev(_numbers(v, "stddev")))),
    "keys": lambda v: list(v.keys()) if isinstance(v, dict) else None,
    "first": lambda v: v[0] if isinstance(v, list) and v else None,
    "last": lambda v: v[-1] if isinstance(v, list) and v else None,
}


# --------------------------------------------------------------------------- the compiled path


class Path:
    """A parsed JSONPath; `get()` reads it."""

    __slots__ = (
        "_simple",
        "definite",
        "function",
        "jayway",
        "reference",
        "root",
        "text",
        "tokens",
        "variable",
    )

    def __init__(self, text: str, root: str, variable: str | None, tokens: list[_Token],
                 function: str | None) -> None:
        self.text = text
        self.root = root  # "$" (input), "$$" (context) or "var" (a workflow variable)
        self.variable = variable
        self.tokens = tokens
        self.function = function
        self.definite = all(t.definite for t in tokens)
        self.reference = function is None and all(t.reference for t in tokens)
        # Jayway's normalized form, as AWS quotes it in cause texts: $['a']['b'][0]
        head = "$" if root == "$" else ("$$" if root == "$$" else "$" + (variable or ""))
        self.jayway = head + "".join(t.text for t in tokens) + (f".{function}()" if function else "")
        # Fast path for the common case: only property names and indexes.
        self._simple: tuple[tuple[bool, Any], ...] | None = None
        if self.reference:
            self._simple = tuple(
                (True, t.name) if isinstance(t, _Property) else (False, t.index)  # type: ignore[attr-defined]
                for t in tokens
            )

    def __repr__(self) -> str:
        return f"Path({self.text!r})"

    def get(self, data: Any, context: Any = None, variables: dict[str, Any] | None = None) -> Any:
        """The value at this path; a list for indefinite paths; PathNotFound when a definite path misses."""
        if self.root == "$":
            node = data
        elif self.root == "$$":
            node = context
        else:
            if variables is None or self.variable not in variables:
                raise PathNotFound(self.text, f"No variable found for name: {self.variable}")
            node = variables[self.variable]

        simple = self._simple
        if simple is not None:
            for i, (is_name, key) in enumerate(simple):
                if is_name:
                    if isinstance(node, dict) and key in node:
                        node = node[key]
                        continue
                elif isinstance(node, list) and -len(node) <= key < len(node):
                    node = node[key]
                    continue
                raise PathNotFound(self.text, self._miss_detail(node, is_name, i))
            return node

        nodes = [node]
        for i, token in enumerate(self.tokens):
            selected: list[Any] = []
            for n in nodes:
                selected.extend(token.select(n, node))
            if not selected and self.definite:  # a definite path holds at most one node at each step
                raise PathNotFound(self.text, self._miss_detail(nodes[0], isinstance(token, _Property), i))
            nodes = selected
            if not nodes:
                break
        if self.definite:
            result = nodes[0]
        else:
            result = nodes
        if self.function is not None:
            return _FUNCTIONS[self.function](result)
        return result

    evaluate = get  # the name the interpreter core asked for

    def _miss_detail(self, node: Any, is_name: bool, at: int) -> str:
        """Jayway's text for a definite path that misses at step `at`: a missing object member before
        the last step (a function is a step: `$.a.length()`) reads "Missing property in path $['a']",
        anything else "No results for path: <path>", the function included."""
        if is_name and isinstance(node, dict) and (at < len(self.tokens) - 1 or self.function is not None):
            head = "$" if self.root == "$" else ("$$" if self.root == "$$" else "$" + (self.variable or ""))
            return "Missing property in path " + head + "".join(t.text for t in self.tokens[:at + 1])
        return "No results for path: " + self.jayway

    def exists(self, data: Any, context: Any = None, variables: dict[str, Any] | None = None) -> bool:
        """Whether the path selects a value (Choice `IsPresent`)."""
        try:
            value = self.get(data, context, variables)
        except PathError:
            return False
        return self.definite or self.function is not None or bool(value)


# --------------------------------------------------------------------------- parsing


@lru_cache(maxsize=4096)
def compile_path(text: str) -> Path:
    """Parse a JSONPath once; cached by text. Raises PathSyntaxError for malformed paths."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise PathSyntaxError(str(text), "a path must start with '$'")
    return _Parser(text).parse()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, reason: str) -> PathSyntaxError:
        return PathSyntaxError(self.text, f"{reason} at position {self.pos}")

    def parse(self) -> Path:
        text = self.text
        variable = None
        if text.startswith("$$"):
            root, self.pos = "$$", 2
        else:
            m = _VARIABLE_NAME.match(text, 1)
            if m:
                root, variable, self.pos = "var", m.group(0), m.end()
            else:
                root, self.pos = "$", 1
        tokens: list[_Token] = []
        function: str | None = None
        while self.pos < len(text):
            c = text[self.pos]
            if c == ".":
                if text.startswith("..", self.pos):
                    self.pos += 2
                    if self.pos < len(text) and text[self.pos] == "[":
                        following = self.bracket()
                    else:
                        following = self.dot_name(allow_function=False)
                    tokens.append(_DeepScan(following))
                    continue
                self.pos += 1
                if self.pos < len(text) and text[self.pos] == "[":
                    continue  # Jayway reads `$.[0]` and `$.a.['b']` as `$[0]` and `$.a['b']`
                token = self.dot_name(allow_function=True)
                if isinstance(token, str):
                    function = token
                    if self.pos != len(text):
                        raise self.fail("a function must end the path")
                    break
                tokens.append(token)
            elif c == "[":
                tokens.append(self.bracket())
            elif c.isspace():
                self.pos += 1
            else:
                raise self.fail(f"unexpected character {c!r}")
        if tokens and isinstance(tokens[-1], _Properties):
            last = tokens[-1]
            tokens[-1] = _Properties(last.names, leaf=function is None)  # type: ignore[attr-defined]
        return Path(text, root, variable, tokens, function)

    def dot_name(self, allow_function: bool) -> Any:
        text, start = self.text, self.pos
        if start < len(text) and text[start] == "*":
            self.pos += 1
            return _Wildcard()
        end = start
        while end < len(text) and text[end] not in ".[( ":
            end += 1
        name = text[start:end]
        if not name:
            raise self.fail("expected a property name")
        self.pos = end
        if end < len(text) and text[end] == "(":
            if not allow_function or not text.startswith("()", end) or name not in _FUNCTIONS:
                raise self.fail(f"unsupported function {name}()")
            self.pos = end + 2
            return name
        if end < len(text) and text[end] == " ":
            raise self.fail("use bracket notation ['my prop'] for a property with blanks")
        return _Property(name)

    def bracket(self) -> _Token:
        text = self.text
        self.pos += 1  # '['
        self.skip_blanks()
        if self.pos >= len(text):
            raise self.fail("unclosed '['")
        c = text[self.pos]
        if c == "?":
            return self.filter()
        if c == "*":
            self.pos += 1
            self.close_bracket()
            return _Wildcard()
        if c in "'\"":
            names = [self.quoted()]
            self.skip_blanks()
            while self.pos < len(text) and text[self.pos] == ",":
                self.pos += 1
                self.skip_blanks()
                names.append(self.quoted())
                self.skip_blanks()
            self.close_bracket()
            return _Property(names[0]) if len(names) == 1 else _Properties(names)
        end = text.find("]", self.pos)
        if end < 0:
            raise self.fail("unclosed '['")
        inner = text[self.pos:end].replace(" ", "")
        self.pos = end + 1
        if ":" in inner:
            parts = inner.split(":")
            if len(parts) > 3 or not all(p == "" or _INT.fullmatch(p) for p in parts):
                raise self.fail(f"invalid array slice [{inner}]")
            nums = [int(p) if p else None for p in parts] + [None] * (3 - len(parts))
            if nums[2] == 0:
                raise self.fail("slice step cannot be zero")
            return _Slice(nums[0], nums[1], nums[2])
        parts = inner.split(",")
        if not all(_INT.fullmatch(p) for p in parts):
            raise self.fail(f"invalid array index [{inner}]")
        if len(parts) == 1:
            return _Index(int(parts[0]))
        return _Indexes([int(p) for p in parts])

    def skip_blanks(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] == " ":
            self.pos += 1

    def close_bracket(self) -> None:
        self.skip_blanks()
        if self.pos >= len(self.text) or self.text[self.pos] != "]":
            raise self.fail("expected ']'")
        self.pos += 1

    def quoted(self) -> str:
        # AWS's Jayway keeps backslashes as written: a backslash only stops the next quote ending the name.
        text = self.text
        if self.pos >= len(text) or text[self.pos] not in "'\"":
            raise self.fail("expected a quoted property name")
        quote = text[self.pos]
        i = self.pos + 1
        while i < len(text):
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == quote:
                name = text[self.pos + 1:i]
                self.pos = i + 1
                return name
            i += 1
        raise self.fail("unterminated quoted property name")

    def filter(self) -> _Token:
        text = self.text
        self.pos += 1  # '?'
        self.skip_blanks()
        if self.pos >= len(text) or text[self.pos] != "(":
            raise self.fail("expected '(' after '?'")
        # find the matching ')' outside quotes and regexes
        depth, i, quote = 0, self.pos, None
        while i < len(text):
            ch = text[i]
            if quote:
                if ch == "\\":
                    i += 2
                    continue
                if ch == quote:
                    quote = None
            elif ch in "'\"":
                quote = ch
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        else:
            raise self.fail("unclosed filter '(...)'")
        source = text[self.pos + 1:i]
        self.pos = i + 1
        self.close_bracket()
        try:
            predicate = _FilterParser(source).parse()
        except PathSyntaxError as exc:
            raise PathSyntaxError(self.text, exc.reason) from None
        return _Filter(predicate, source)


# --------------------------------------------------------------------------- filter expressions

_FILTER_TOKEN = re.compile(
    r"""\s*(?:
      (?P<op>&&|\|\||==|!=|<=|>=|=~|<|>|!|\(|\))
    | (?P<str>'(?:\\.|[^'\\])*'|"(?:\\.|[^"\\])*")
    | (?P<regex>/(?:\\.|[^/\\])*/[a-zA-Z]*)
    | (?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    | (?P<word>in|nin|subsetof|anyof|noneof|size|empty|contains|true|false|null)\b
    | (?P<path>[@$](?:\.\.?[^\s.\[()=!<>&|]+|\[[^\]]*\])*(?:\.[A-Za-z]+\(\))?)
    | (?P<list>\[[^\]]*\])
    | (?P<bare>[A-Za-z_][A-Za-z0-9_\-]*)
    )""",
    re.VERBOSE,
)

_COMPARATORS = {"==", "!=", "<", "<=", ">", ">=", "=~", "in", "nin", "subsetof", "anyof", "noneof", "size",
                "empty", "contains"}

Operand = Callable[[Any, Any], Any]


def _unquote(s: str) -> str:
    return re.sub(r"\\(.)", r"\1", s[1:-1])


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _equal(a: Any, b: Any) -> bool:
    """Jayway's filter equality: JSON types must match, except that a number equals its string form."""
    if _is_number(a) and _is_number(b):
        return a == b
    if _is_number(a) and isinstance(b, str):
        return _number_text_equal(a, b)
    if isinstance(a, str) and _is_number(b):
        return _number_text_equal(b, a)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


def _number_text_equal(number: float, text: str) -> bool:
    try:
        return Decimal(text.strip()) == Decimal(repr(number))
    except ArithmeticError:
        return False


def _ordered(a: Any, b: Any, op: str) -> bool:
    if _is_number(a) and _is_number(b) or isinstance(a, str) and isinstance(b, str):
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
        if op == ">":
            return a > b
        return a >= b
    return False


def _regex_match(a: Any, pattern: Any) -> bool:
    if not isinstance(a, str) or not isinstance(pattern, re.Pattern):
        return False
    return pattern.fullmatch(a) is not None


def _compare(op: str, a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING:
        return op == "!=" and not (a is _MISSING and b is _MISSING)
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    if op in ("<", "<=", ">", ">="):
        return _ordered(a, b, op)
    if op == "=~":
        return _regex_match(a, b)
    if op == "in":
        return isinstance(b, list) and any(_equal(a, x) for x in b)
    if op == "nin":
        return isinstance(b, list) and not any(_equal(a, x) for x in b)
    if op == "subsetof":
        return isinstance(a, list) and isinstance(b, list) and all(any(_equal(x, y) for y in b) for x in a)
    if op == "anyof":
        return isinstance(a, list) and isinstance(b, list) and any(any(_equal(x, y) for y in b) for x in a)
    if op == "noneof":
        return isinstance(a, list) and isinstance(b, list) and not any(any(_equal(x, y) for y in b) for x in a)
    if op == "size":
        return isinstance(a, (list, str, dict)) and _is_number(b) and len(a) == b
    if op == "empty":
        return isinstance(a, (list, str, dict)) and (len(a) == 0) == bool(b)
    if op == "contains":
        if isinstance(a, str):
            return isinstance(b, str) and b in a
        return isinstance(a, list) and any(_equal(x, b) for x in a)
    raise AssertionError(op)


class _FilterParser:
    """Recursive descent over `||`, `&&`, `!`, parentheses and `left op right` comparisons."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(source):
            if source[pos:].strip() == "":
                break
            m = _FILTER_TOKEN.match(source, pos)
            if not m or m.end() == pos:
                raise PathSyntaxError(source, f"invalid filter expression near {source[pos:]!r}")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise PathSyntaxError(self.source, "incomplete filter expression")
        self.i += 1
        return tok

    def parse(self) -> Callable[[Any, Any], bool]:
        pred = self.disjunction()
        if self.peek() is not None:
            raise PathSyntaxError(self.source, f"unexpected {self.peek()[1]!r} in filter")  # type: ignore[index]
        return pred

    def disjunction(self) -> Callable[[Any, Any], bool]:
        parts = [self.conjunction()]
        while self.peek() == ("op", "||"):
            self.i += 1
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        return lambda cur, root: any(p(cur, root) for p in parts)

    def conjunction(self) -> Callable[[Any, Any], bool]:
        parts = [self.unary()]
        while self.peek() == ("op", "&&"):
            self.i += 1
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return lambda cur, root: all(p(cur, root) for p in parts)

    def unary(self) -> Callable[[Any, Any], bool]:
        tok = self.peek()
        if tok == ("op", "!"):
            self.i += 1
            inner = self.unary()
            return lambda cur, root: not inner(cur, root)
        if tok == ("op", "("):
            # a parenthesised group, unless it is a comparison whose left side is parenthesised
            self.i += 1
            inner = self.disjunction()
            if self.take() != ("op", ")"):
                raise PathSyntaxError(self.source, "expected ')' in filter")
            return inner
        return self.comparison()

    def comparison(self) -> Callable[[Any, Any], bool]:
        left = self.operand()
        tok = self.peek()
        if tok is None or tok[1] not in _COMPARATORS or tok[0] not in ("op", "word"):
            # existence check: [?(@.x)]
            return lambda cur, root: left(cur, root) is not _MISSING
        self.i += 1
        op = tok[1]
        right = self.operand(regex=op == "=~")
        return lambda cur, root: _compare(op, left(cur, root), right(cur, root))

    def operand(self, regex: bool = False) -> Operand:
        kind, value = self.take()
        if kind == "path":
            sub = compile_path("$" + value[1:])
            at_current = value[0] == "@"

            def read(cur: Any, root: Any) -> Any:
                try:
                    return sub.get(cur if at_current else root)
                except PathError:
                    return _MISSING

            return read
        if kind == "str":
            s = _unquote(value)
            return lambda cur, root: s
        if kind == "num":
            num: Any = float(value) if any(ch in value for ch in ".eE") else int(value)
            return lambda cur, root: num
        if kind == "bare":
            # An unquoted word (`[?(@.Name==Receipt)]`): published AWS samples use it for a string.
            return lambda cur, root: value
        if kind == "word" and value in ("true", "false", "null"):
            const = {"true": True, "false": False, "null": None}[value]
            return lambda cur, root: const
        if kind == "regex" and regex:
            body, _, flags = value[1:].rpartition("/")
            compiled = re.compile(body, re.IGNORECASE if "i" in flags else 0)
            return lambda cur, root: compiled
        if kind == "list":
            try:
                items = json.loads(value.replace("'", '"'))
            except ValueError:
                raise PathSyntaxError(self.source, f"invalid list {value}") from None
            return lambda cur, root: items
        raise PathSyntaxError(self.source, f"unexpected {value!r} in filter")

