"""Readable conditions (choice `if`, poll `until`/`fail_if`): the AST and its parser.

JSONPath workflows write `$.a >= 0.9 and $.b is present`; the back end turns the AST into ASL
Choice rules. JSONata workflows write a JSONata expression, kept whole as a JsonataCondition.

Grammar (lowest precedence first):
    expr       := or
    or         := and ("or" and)*
    and        := unary ("and" unary)*
    unary      := "not" unary | "(" expr ")" | predicate
    predicate  := PATH OP operand ["as" TYPE]
                | PATH "is" ["not"] ("present" | "absent" | "null" | TYPE)
                | PATH ["not"] "matches" STRING
                | PATH ["not"] "in" "[" VALUE ("," VALUE)* "]"
    operand    := STRING | NUMBER | "true" | "false" | PATH | PARAM
    PARAM      := ${param:Name}, bare or as the whole of a quoted string: a deploy-time value whose
                  type comes from `as TYPE` or the parameter's declaration (see load.py)
    TYPE       := "string" | "numeric" | "boolean" | "timestamp"
`!=` parses as Not(Comparison("==")), `x not matches "g"` as Not(Matches), and `x in [A, B]` as
Or(x == "A", x == "B"), so the back end sees only the operators ASL has. In a set, a bare word is a
string (`[Creating, Updating]`), as are quoted strings; numbers and true/false keep their types.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

ValueType = Literal["string", "numeric", "boolean", "timestamp"]
TestKind = Literal["present", "null", "string", "numeric", "boolean", "timestamp"]
ComparisonOp = Literal["==", "<", "<=", ">", ">="]


@dataclass(frozen=True)
class Comparison:
    """`path op value`: value is a literal, another path when `value_is_path`, or the name of a
    template parameter when `value_is_parameter` (its type is None until load.py resolves it)."""

    path: str
    op: ComparisonOp
    value: Any
    type: ValueType
    value_is_path: bool = False
    value_is_parameter: bool = False


@dataclass(frozen=True)
class Test:
    """`path is [not] present|null|string|numeric|boolean|timestamp` (absent = not present)."""

    path: str
    kind: TestKind
    expected: bool = True


@dataclass(frozen=True)
class Matches:
    """`path matches "glob*"` → StringMatches (only `*` is a wildcard; `\\*` is a literal star)."""

    path: str
    pattern: str


@dataclass(frozen=True)
class And:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


@dataclass(frozen=True)
class JsonataCondition:
    """A JSONata boolean expression, without the `{% %}` delimiters."""

    expr: str


Condition = Comparison | Test | Matches | And | Or | Not | JsonataCondition


class ConditionError(ValueError):
    """A condition that does not parse; `offset` is the 0-based character where the problem is."""

    def __init__(self, message: str, offset: int, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.hint = hint


_TYPES = ("string", "numeric", "boolean", "timestamp")
_OPS = ("==", "!=", "<=", ">=", "<", ">")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_WORD = re.compile(r"[A-Za-z_]+")
_PARAM = re.compile(r"\$\{param:([^}]*)\}")
_PLACEHOLDER = re.compile(r"\$\{[^}]*\}")
_BARE_VALUE = re.compile(r"[A-Za-z_][A-Za-z0-9_.:/-]*")
_ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class _Token:
    kind: str  # path, string, number, word, op, lparen, rparen, end
    text: str
    value: Any
    offset: int


def _read_path(text: str, start: int) -> int:
    """End offset of a JSONPath starting at `start` ($, $$, $var): runs until whitespace or ')'
    outside brackets and quotes."""
    depth, quote, index = 0, None, start
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = None
        elif char in "'\"" and depth:
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif depth == 0 and (char.isspace() or char in "()=!<>"):
            break
        index += 1
    return index


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    index = 0
    in_set = False
    while index < len(text):
        char = text[index]
        if char.isspace():
            index += 1
        elif text.startswith("${", index):
            placeholder = _PLACEHOLDER.match(text, index)
            if placeholder is None:
                raise ConditionError("unclosed ${", index, "write ${param:Name}")
            parameter = _PARAM.fullmatch(placeholder.group())
            if parameter is None:
                raise ConditionError(f"{placeholder.group()} cannot be compared in a condition", index,
                                     "conditions compare with ${param:Name}; pass other values in the input")
            tokens.append(_Token("param", placeholder.group(), parameter.group(1), index))
            index = placeholder.end()
        elif char in "[],":
            kind = {"[": "lbracket", "]": "rbracket", ",": "comma"}[char]
            if (char == "[") == in_set or (char == "," and not in_set):
                raise ConditionError(f"unexpected {char!r}", index, "sets are written $.x in [A, B]")
            in_set = {"[": True, "]": False}.get(char, in_set)
            tokens.append(_Token(kind, char, char, index))
            index += 1
        elif in_set and (bare := _BARE_VALUE.match(text, index)) is not None and not _NUMBER.match(text, index):
            word = bare.group()
            value: Any = {"true": True, "false": False}.get(word, word)
            tokens.append(_Token("bare", word, value, index))
            index = bare.end()
        elif char == "$":
            end = _read_path(text, index)
            tokens.append(_Token("path", text[index:end], text[index:end], index))
            index = end
        elif char == '"':
            end = index + 1
            while end < len(text) and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            if end >= len(text):
                raise ConditionError("unterminated string", index, 'close it with "')
            literal = text[index:end + 1]
            try:
                value = json.loads(literal)
            except json.JSONDecodeError as exc:
                raise ConditionError(f"bad string {literal}: {exc.msg}", index) from None
            tokens.append(_Token("string", literal, value, index))
            index = end + 1
        elif char == "(":
            tokens.append(_Token("lparen", char, char, index))
            index += 1
        elif char == ")":
            tokens.append(_Token("rparen", char, char, index))
            index += 1
        elif any(text.startswith(op, index) for op in _OPS):
            op = next(op for op in _OPS if text.startswith(op, index))
            tokens.append(_Token("op", op, op, index))
            index += len(op)
        elif char == "=":
            raise ConditionError("single '=' is not an operator", index, "compare with ==")
        elif (number := _NUMBER.match(text, index)) is not None:
            literal = number.group()
            value = float(literal) if any(c in literal for c in ".eE") else int(literal)
            tokens.append(_Token("number", literal, value, index))
            index = number.end()
        elif (word := _WORD.match(text, index)) is not None:
            tokens.append(_Token("word", word.group(), word.group().lower(), index))
            index = word.end()
        elif char == "'":
            raise ConditionError("strings use double quotes", index, 'write "text"')
        else:
            raise ConditionError(f"unexpected character {char!r}", index)
    tokens.append(_Token("end", "", None, len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at_word(self, *words: str) -> bool:
        return self.token.kind == "word" and self.token.value in words

    def expect_word(self, *words: str) -> str:
        if not self.at_word(*words):
            raise self.error(f"expected {' or '.join(words)}")
        return self.advance().value

    def error(self, message: str, hint: str | None = None) -> ConditionError:
        found = self.token.text or "end of condition"
        return ConditionError(f"{message}, found {found!r}", self.token.offset, hint)

    def parse(self) -> Condition:
        if self.token.kind == "end":
            raise ConditionError("empty condition", 0, 'e.g. $.status == "DONE"')
        condition = self.parse_or()
        if self.token.kind != "end":
            raise self.error("expected 'and', 'or' or the end of the condition")
        return condition

    def parse_or(self) -> Condition:
        items = [self.parse_and()]
        while self.at_word("or"):
            self.advance()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Condition:
        items = [self.parse_unary()]
        while self.at_word("and"):
            self.advance()
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_unary(self) -> Condition:
        if self.at_word("not"):
            self.advance()
            return Not(self.parse_unary())
        if self.token.kind == "lparen":
            self.advance()
            inner = self.parse_or()
            if self.token.kind != "rparen":
                raise self.error("expected ')'")
            self.advance()
            return inner
        return self.parse_predicate()

    def parse_predicate(self) -> Condition:
        if self.token.kind == "param":
            raise self.error("expected a path like $.field", "put the path first: $.x >= ${param:Name}")
        if self.token.kind != "path":
            raise self.error("expected a path like $.field", "conditions start with a path: $.x == 1")
        path = self.advance().value
        if self.at_word("is"):
            self.advance()
            expected = True
            if self.at_word("not"):
                self.advance()
                expected = False
            kind = self.expect_word("present", "absent", "null", *_TYPES)
            if kind == "absent":
                return Test(path, "present", not expected)
            return Test(path, kind, expected)  # type: ignore[arg-type]
        negate = False
        if self.at_word("not"):
            self.advance()
            negate = True
            if not self.at_word("matches", "in"):
                raise self.error("expected 'matches' or 'in' after 'not'")
        if self.at_word("in"):
            self.advance()
            members = self.parse_set(path)
            return Not(members) if negate else members
        if self.at_word("matches"):
            self.advance()
            if self.token.kind != "string":
                raise self.error("matches needs a quoted glob", 'e.g. $.key matches "*.mp4"')
            matches = Matches(path, self.advance().value)
            return Not(matches) if negate else matches
        if self.token.kind != "op":
            raise self.error("expected an operator (== != < <= > >=), 'is' or 'matches'")
        op = self.advance().value
        operand = self.advance()
        is_parameter = False
        if operand.kind == "word" and operand.value in ("true", "false"):
            value, value_type, is_path = operand.value == "true", "boolean", False
        elif operand.kind == "word" and operand.value == "null":
            raise ConditionError("compare with null using 'is null'", operand.offset, f"write {path} is null")
        elif operand.kind == "param" or operand.kind == "string" and _PARAM.fullmatch(operand.value):
            # Quoted or not, a whole ${param:X} is the parameter's value, typed below or by load.py.
            name = operand.value if operand.kind == "param" else _PARAM.fullmatch(operand.value).group(1)
            value, value_type, is_path = name, None, False
            is_parameter = True
        elif operand.kind == "string":
            value, value_type, is_path = operand.value, "string", False
        elif operand.kind == "number":
            value, value_type, is_path = operand.value, "numeric", False
        elif operand.kind == "path":
            value, value_type, is_path = operand.value, None, True
        else:
            self.index -= 1
            raise self.error("expected a value (\"text\", number, true, false) or a path after " + op)
        if self.at_word("as"):
            self.advance()
            declared = self.expect_word(*_TYPES)
            literal = not is_path and not is_parameter
            if literal and declared != value_type and not (declared == "timestamp" and value_type == "string"):
                raise ConditionError(f"a {value_type} value cannot be compared as {declared}", operand.offset)
            if declared == "timestamp" and literal and not _ISO_TIMESTAMP.match(value):
                raise ConditionError(f"{operand.text} is not an ISO 8601 timestamp", operand.offset,
                                     'e.g. "2026-01-01T00:00:00Z"')
            value_type = declared
        if is_parameter:
            comparison = Comparison(path, "==" if op == "!=" else op, value, value_type, False, True)
            return Not(comparison) if op == "!=" else comparison  # typed (and checked) by load.py
        if value_type is None:
            raise ConditionError(f"comparing two paths needs a type: add 'as numeric', 'as string', "
                                 f"'as boolean' or 'as timestamp' after {operand.text}", operand.offset)
        if value_type == "boolean" and op not in ("==", "!="):
            raise ConditionError(f"booleans only support == and !=, not {op}", operand.offset)
        comparison = Comparison(path, "==" if op == "!=" else op, value, value_type, is_path)
        return Not(comparison) if op == "!=" else comparison


    def parse_set(self, path: str) -> Condition:
        """`[A, "b", 3]` after `PATH in`: one equality per member, typed by the member."""
        if self.token.kind != "lbracket":
            raise self.error("expected a set like [Creating, Updating] after 'in'")
        self.advance()
        members: list[Condition] = []
        while True:
            token = self.advance()
            if token.kind in ("string", "bare") and isinstance(token.value, str):
                members.append(Comparison(path, "==", token.value, "string"))
            elif token.kind == "bare":
                members.append(Comparison(path, "==", token.value, "boolean"))
            elif token.kind == "number":
                members.append(Comparison(path, "==", token.value, "numeric"))
            else:
                self.index -= 1
                raise self.error("expected a value in the set")
            if self.token.kind == "rbracket":
                self.advance()
                break
            if self.token.kind != "comma":
                raise self.error("expected ',' or ']' in the set")
            self.advance()
        unique = list(dict.fromkeys(members))
        return unique[0] if len(unique) == 1 else Or(tuple(unique))


# A JSONata set whose members are bare names: `status in [Creating]` reads a field named Creating.
_JSONATA_SET = re.compile(r"\bin\s*\[([^\]\[]*)\]")
_JSONATA_NAME = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*$")


def jsonata_bare_set_members(expr: str) -> list[tuple[int, str]]:
    """(offset, name) of every bare name listed in an `x in [...]` set of a JSONata expression: in
    JSONata those are field lookups (almost always nothing), not the strings they look like."""
    found = []
    for match in _JSONATA_SET.finditer(expr):
        offset = match.start(1)
        for item in match.group(1).split(","):
            name = _JSONATA_NAME.match(item)
            if name and name.group(1) not in ("true", "false", "null"):
                found.append((offset + name.start(1), name.group(1)))
            offset += len(item) + 1
    return found


def parse_condition(text: str) -> Condition:
    """Parse a JSONPath-mode condition; raises ConditionError with the offset of the problem."""
    return _Parser(text).parse()


def condition_paths(condition: Condition) -> list[str]:
    """Every JSONPath a condition reads (for path syntax checks)."""
    if isinstance(condition, Comparison):
        return [condition.path, condition.value] if condition.value_is_path else [condition.path]
    if isinstance(condition, (Test, Matches)):
        return [condition.path]
    if isinstance(condition, (And, Or)):
        return [path for item in condition.items for path in condition_paths(item)]
    if isinstance(condition, Not):
        return condition_paths(condition.item)
    return []
