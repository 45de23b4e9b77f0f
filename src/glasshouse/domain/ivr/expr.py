"""The IVR's small expression language and ``{{var}}`` templates.

Expressions are parsed and type-checked when a flow is uploaded, then evaluated against the
call's variables; nothing is ever handed to Python's ``eval``. Values are text, whole numbers
or true/false; variables are always text (``int(x)`` converts). Sizes are bounded at every
step (source length, nesting, number range, text length) so a hostile flow cannot exhaust the
stack or memory.

Grammar, loosest binding first::

    expr    := or
    or      := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | compare
    compare := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum)?
    sum     := product (("+" | "-") product)*
    product := unary (("*" | "/" | "%") unary)*
    unary   := "-" unary | primary
    primary := NUMBER | STRING | "true" | "false" | NAME | NAME "(" args ")" | "(" expr ")"
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Final

MAX_EXPRESSION_LENGTH: Final = 500
MAX_DEPTH: Final = 64
MAX_TEXT_LENGTH: Final = 1024
MAX_NUMBER_DIGITS: Final = 18
MAX_TEMPLATE_LENGTH: Final = 2048
_INT_LIMIT: Final = 2**63 - 1

KEYWORDS: Final = frozenset({"and", "or", "not", "true", "false"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_DIGITS = re.compile(r"[+-]?\d{1,18}")

Value = str | int | bool


class ExprError(ValueError):
    """An expression or template is malformed or ill-typed; ``position`` is a 0-based offset."""

    def __init__(self, message: str, position: int | None = None) -> None:
        where = f" at position {position}" if position is not None else ""
        super().__init__(f"{message}{where}")
        self.reason = message
        self.position = position


class EvalError(ValueError):
    """An expression failed while running (bad number, division by zero, overflow...)."""


class ValueType(Enum):
    TEXT = "text"
    NUMBER = "number"
    BOOL = "true/false"


def is_variable_name(name: object) -> bool:
    """True when ``name`` can name a call variable (identifier, at most 64 chars, no keyword)."""
    return isinstance(name, str) and bool(_NAME.fullmatch(name)) and name not in KEYWORDS


def value_type(value: Value) -> ValueType:
    if isinstance(value, bool):
        return ValueType.BOOL
    if isinstance(value, int):
        return ValueType.NUMBER
    return ValueType.TEXT


def to_text(value: Value) -> str:
    """How a value is stored in a (text) variable: numbers in decimal, booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------------------------
# tokens

_OPERATORS: Final = ("==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "(", ")", ",")
_MISTAKES: Final = {
    "&&": "use 'and' instead of '&&'",
    "||": "use 'or' instead of '||'",
    "=": "use '==' to compare",
    "!": "use 'not' instead of '!'",
}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "num", "str", "name", "op", "end"
    text: str
    pos: int
    value: Value = ""


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c in " \t\r\n":
            i += 1
        elif c.isascii() and c.isdigit():
            j = i
            while j < n and source[j].isascii() and source[j].isdigit():
                j += 1
            if j - i > MAX_NUMBER_DIGITS:
                raise ExprError(f"number has more than {MAX_NUMBER_DIGITS} digits", i)
            if j < n and (source[j].isalpha() or source[j] in "_."):
                raise ExprError(f"malformed number {source[i : j + 1]!r}", i)
            tokens.append(_Token("num", source[i:j], i, int(source[i:j])))
            i = j
        elif c in "'\"":
            text, end = _string(source, i)
            tokens.append(_Token("str", "", i, text))
            i = end
        elif c.isascii() and (c.isalpha() or c == "_"):
            j = i
            while j < n and source[j].isascii() and (source[j].isalnum() or source[j] == "_"):
                j += 1
            tokens.append(_Token("name", source[i:j], i))
            i = j
        else:
            for op in ("&&", "||"):
                if source.startswith(op, i):
                    raise ExprError(_MISTAKES[op], i)
            for op in _OPERATORS:
                if source.startswith(op, i):
                    tokens.append(_Token("op", op, i))
                    i += len(op)
                    break
            else:
                if c in _MISTAKES:
                    raise ExprError(_MISTAKES[c], i)
                raise ExprError(f"unexpected character {c!r}", i)
    tokens.append(_Token("end", "", n))
    return tokens


def _string(source: str, start: int) -> tuple[str, int]:
    quote = source[start]
    out: list[str] = []
    i = start + 1
    while i < len(source):
        c = source[i]
        if c == quote:
            return "".join(out), i + 1
        if c == "\\":
            nxt = source[i + 1 : i + 2]
            if nxt not in ("\\", "'", '"'):
                raise ExprError(f"unknown escape '\\{nxt}' (only \\\\, \\' and \\\")", i)
            out.append(nxt)
            i += 2
            continue
        if c in "\r\n":
            raise ExprError("line break inside a string", i)
        out.append(c)
        i += 1
    raise ExprError("unterminated string", start)


# ---------------------------------------------------------------------------------------------
# syntax tree


@dataclass(frozen=True, slots=True)
class _Lit:
    value: Value


@dataclass(frozen=True, slots=True)
class _Var:
    name: str


@dataclass(frozen=True, slots=True)
class _Not:
    operand: _Ast


@dataclass(frozen=True, slots=True)
class _Neg:
    operand: _Ast


@dataclass(frozen=True, slots=True)
class _Logic:
    op: str  # "and" | "or"
    left: _Ast
    right: _Ast


@dataclass(frozen=True, slots=True)
class _Binary:
    op: str
    left: _Ast
    right: _Ast


@dataclass(frozen=True, slots=True)
class _Call:
    name: str
    args: tuple[_Ast, ...]


_Ast = _Lit | _Var | _Not | _Neg | _Logic | _Binary | _Call


@dataclass(frozen=True, slots=True)
class _Function:
    params: tuple[ValueType | None, ...]  # None: any type
    result: ValueType
    run: Callable[..., Value]


def _int_of(text: str) -> int:
    stripped = text.strip()
    if not _DIGITS.fullmatch(stripped):
        raise EvalError(f"int(): {text[:40]!r} is not a whole number of at most 18 digits")
    return int(stripped)


_T, _N, _B = ValueType.TEXT, ValueType.NUMBER, ValueType.BOOL
FUNCTIONS: Final[Mapping[str, _Function]] = {
    "int": _Function((_T,), _N, _int_of),
    "str": _Function((None,), _T, to_text),
    "len": _Function((_T,), _N, len),
    "lower": _Function((_T,), _T, str.lower),
    "upper": _Function((_T,), _T, str.upper),
    "trim": _Function((_T,), _T, str.strip),
    "is_number": _Function((_T,), _B, lambda s: bool(_DIGITS.fullmatch(s.strip()))),
    "contains": _Function((_T, _T), _B, lambda s, part: part in s),
    "starts_with": _Function((_T, _T), _B, str.startswith),
    "ends_with": _Function((_T, _T), _B, str.endswith),
    "default": _Function((_T, _T), _T, lambda s, other: s if s else other),
}


# ---------------------------------------------------------------------------------------------
# parser and type checker


@dataclass(frozen=True, slots=True)
class _Typed:
    ast: _Ast
    type: ValueType
    depth: int  # height of the tree, so evaluation recursion stays bounded


_COMPARISONS: Final = ("==", "!=", "<", "<=", ">", ">=")


class _Parser:
    def __init__(self, source: str) -> None:
        self.tokens = _tokenize(source)
        self.i = 0
        self.nesting = 0
        self.variables: set[str] = set()

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def at_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def at_word(self, word: str) -> bool:
        return self.tok.kind == "name" and self.tok.text == word

    def expect(self, op: str) -> None:
        if not self.at_op(op):
            raise ExprError(f"expected {op!r}, found {_describe(self.tok)}", self.tok.pos)
        self.i += 1

    def node(self, ast: _Ast, kind: ValueType, pos: int, *children: _Typed) -> _Typed:
        depth = 1 + max((c.depth for c in children), default=0)
        if depth > MAX_DEPTH:
            raise ExprError(f"expression is nested more than {MAX_DEPTH} levels deep", pos)
        return _Typed(ast, kind, depth)

    def enter(self, pos: int) -> None:
        # Parentheses add no tree level but do recurse in the parser: bound them too.
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise ExprError(f"expression is nested more than {MAX_DEPTH} levels deep", pos)

    def parse(self) -> _Typed:
        result = self.or_()
        if self.tok.kind != "end":
            raise ExprError(f"unexpected {_describe(self.tok)}", self.tok.pos)
        return result

    def logic(self, word: str, operand: Callable[[], _Typed]) -> _Typed:
        left = operand()
        while self.at_word(word):
            pos = self.take().pos
            right = operand()
            for side, t in (("left", left.type), ("right", right.type)):
                if t is not ValueType.BOOL:
                    raise ExprError(f"'{word}' needs true/false on the {side}, got {t.value}", pos)
            left = self.node(_Logic(word, left.ast, right.ast), _B, pos, left, right)
        return left

    def or_(self) -> _Typed:
        return self.logic("or", self.and_)

    def and_(self) -> _Typed:
        return self.logic("and", self.not_)

    def not_(self) -> _Typed:
        if not self.at_word("not"):
            return self.compare()
        pos = self.take().pos
        self.enter(pos)
        operand = self.not_()
        self.nesting -= 1
        if operand.type is not ValueType.BOOL:
            raise ExprError(f"'not' needs true/false, got {operand.type.value}", pos)
        return self.node(_Not(operand.ast), _B, pos, operand)

    def compare(self) -> _Typed:
        left = self.sum()
        if not self.at_op(*_COMPARISONS):
            return left
        tok = self.take()
        right = self.sum()
        lt, rt = left.type, right.type
        if lt is not rt:
            hint = " (variables are text: int(x) makes a number)" if _N in (lt, rt) else ""
            raise ExprError(f"'{tok.text}' compares {lt.value} with {rt.value}{hint}", tok.pos)
        if tok.text not in ("==", "!=") and lt is ValueType.BOOL:
            raise ExprError(f"'{tok.text}' cannot order true/false values", tok.pos)
        if self.at_op(*_COMPARISONS):
            raise ExprError("comparisons cannot be chained; join them with 'and'", self.tok.pos)
        return self.node(_Binary(tok.text, left.ast, right.ast), _B, tok.pos, left, right)

    def sum(self) -> _Typed:
        left = self.product()
        while self.at_op("+", "-"):
            tok = self.take()
            right = self.product()
            lt, rt = left.type, right.type
            if tok.text == "+" and lt is rt is ValueType.TEXT:
                left = self.node(_Binary("++", left.ast, right.ast), _T, tok.pos, left, right)
                continue
            if lt is not ValueType.NUMBER or rt is not ValueType.NUMBER:
                what = "two numbers or two texts" if tok.text == "+" else "two numbers"
                raise ExprError(
                    f"'{tok.text}' needs {what}, got {lt.value} and {rt.value}", tok.pos
                )
            left = self.node(_Binary(tok.text, left.ast, right.ast), _N, tok.pos, left, right)
        return left

    def product(self) -> _Typed:
        left = self.unary()
        while self.at_op("*", "/", "%"):
            tok = self.take()
            right = self.unary()
            if left.type is not ValueType.NUMBER or right.type is not ValueType.NUMBER:
                raise ExprError(
                    f"'{tok.text}' needs two numbers, got {left.type.value} and {right.type.value}",
                    tok.pos,
                )
            left = self.node(_Binary(tok.text, left.ast, right.ast), _N, tok.pos, left, right)
        return left

    def unary(self) -> _Typed:
        if not self.at_op("-"):
            return self.primary()
        pos = self.take().pos
        self.enter(pos)
        operand = self.unary()
        self.nesting -= 1
        if operand.type is not ValueType.NUMBER:
            raise ExprError(f"'-' needs a number, got {operand.type.value}", pos)
        return self.node(_Neg(operand.ast), _N, pos, operand)

    def primary(self) -> _Typed:
        tok = self.take()
        if tok.kind == "num":
            return _Typed(_Lit(tok.value), _N, 1)
        if tok.kind == "str":
            return _Typed(_Lit(tok.value), _T, 1)
        if tok.kind == "op" and tok.text == "(":
            self.enter(tok.pos)
            inner = self.or_()
            self.expect(")")
            self.nesting -= 1
            return inner
        if tok.kind == "name":
            if tok.text in ("true", "false"):
                return _Typed(_Lit(tok.text == "true"), _B, 1)
            if tok.text in KEYWORDS:
                raise ExprError(f"unexpected {tok.text!r}", tok.pos)
            if self.at_op("("):
                return self.call(tok)
            if not _NAME.fullmatch(tok.text):
                raise ExprError(
                    f"variable name {tok.text[:20]!r}... is over 64 characters", tok.pos
                )
            self.variables.add(tok.text)
            return _Typed(_Var(tok.text), _T, 1)
        raise ExprError(f"unexpected {_describe(tok)}", tok.pos)

    def call(self, name: _Token) -> _Typed:
        fn = FUNCTIONS.get(name.text)
        if fn is None:
            known = ", ".join(sorted(FUNCTIONS))
            raise ExprError(f"unknown function {name.text!r} (known: {known})", name.pos)
        self.expect("(")
        self.enter(name.pos)
        args: list[_Typed] = []
        if not self.at_op(")"):
            while True:
                args.append(self.or_())
                if not self.at_op(","):
                    break
                self.take()
        self.expect(")")
        self.nesting -= 1
        if len(args) != len(fn.params):
            raise ExprError(
                f"{name.text}() takes {len(fn.params)} argument(s), got {len(args)}", name.pos
            )
        for index, (want, got) in enumerate(zip(fn.params, args, strict=True), 1):
            if want is not None and want is not got.type:
                raise ExprError(
                    f"{name.text}() argument {index} must be {want.value}, got {got.type.value}",
                    name.pos,
                )
        call = _Call(name.text, tuple(a.ast for a in args))
        return self.node(call, fn.result, name.pos, *args)


def _describe(tok: _Token) -> str:
    if tok.kind == "end":
        return "end of expression"
    if tok.kind == "str":
        return "a string"
    return repr(tok.text)


# ---------------------------------------------------------------------------------------------
# evaluation


def _checked(value: int) -> int:
    if not -_INT_LIMIT <= value <= _INT_LIMIT:
        raise EvalError("number out of range (more than 63 bits)")
    return value


def _eval(node: _Ast, variables: Mapping[str, str]) -> Value:
    if isinstance(node, _Lit):
        return node.value
    if isinstance(node, _Var):
        return variables.get(node.name, "")
    if isinstance(node, _Not):
        return not _eval(node.operand, variables)
    if isinstance(node, _Neg):
        value = _eval(node.operand, variables)
        assert isinstance(value, int)
        return _checked(-value)
    if isinstance(node, _Logic):
        left = _eval(node.left, variables)
        if node.op == "and":
            return bool(left) and bool(_eval(node.right, variables))
        return bool(left) or bool(_eval(node.right, variables))
    if isinstance(node, _Call):
        fn = FUNCTIONS[node.name]
        result = fn.run(*(_eval(arg, variables) for arg in node.args))
        return _bounded(result)
    return _binary(node.op, _eval(node.left, variables), _eval(node.right, variables))


def _bounded(value: Value) -> Value:
    if isinstance(value, str) and len(value) > MAX_TEXT_LENGTH:
        raise EvalError(f"text longer than {MAX_TEXT_LENGTH} characters")
    return value


def _binary(op: str, left: Value, right: Value) -> Value:
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if op == "++":
        assert isinstance(left, str) and isinstance(right, str)
        return _bounded(left + right)
    if op in ("<", "<=", ">", ">="):
        assert type(left) is type(right)
        return _ORDER[op](left, right)
    assert isinstance(left, int) and isinstance(right, int)
    if op == "+":
        return _checked(left + right)
    if op == "-":
        return _checked(left - right)
    if op == "*":
        return _checked(left * right)
    if right == 0:
        raise EvalError(f"'{op}' by zero")
    # Rounds toward zero and gives the remainder the sign of the dividend, as most
    # business tools (and C, SQL) do, unlike Python's floor division.
    quotient = abs(left) // abs(right)
    if (left < 0) != (right < 0):
        quotient = -quotient
    return _checked(quotient if op == "/" else left - quotient * right)


_ORDER: Final[Mapping[str, Callable[[Value, Value], bool]]] = {
    "<": lambda a, b: a < b,  # type: ignore[operator]
    "<=": lambda a, b: a <= b,  # type: ignore[operator]
    ">": lambda a, b: a > b,  # type: ignore[operator]
    ">=": lambda a, b: a >= b,  # type: ignore[operator]
}


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed, type-checked expression; ``type`` is what it evaluates to."""

    source: str
    type: ValueType
    variables: frozenset[str]
    _ast: _Ast

    def evaluate(self, variables: Mapping[str, str]) -> Value:
        """The value for these call variables (a missing variable reads as ""), or EvalError."""
        return _eval(self._ast, variables)


def parse_expression(source: str) -> Expression:
    """Parse and type-check ``source``; raises :class:`ExprError` naming the problem and where."""
    if not isinstance(source, str):
        raise ExprError(f"an expression must be text, got {type(source).__name__}")
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExprError(f"expression longer than {MAX_EXPRESSION_LENGTH} characters")
    if not source.strip():
        raise ExprError("empty expression")
    parser = _Parser(source)
    result = parser.parse()
    return Expression(source, result.type, frozenset(parser.variables), result.ast)


# ---------------------------------------------------------------------------------------------
# templates


@dataclass(frozen=True, slots=True)
class Template:
    """Text with ``{{name}}`` placeholders filled from the call variables when rendered."""

    source: str
    parts: tuple[str | _Var, ...]

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(p.name for p in self.parts if isinstance(p, _Var))

    @property
    def is_literal(self) -> bool:
        return all(isinstance(p, str) for p in self.parts)

    def render(
        self, variables: Mapping[str, str], *, escape: Callable[[str], str] | None = None
    ) -> str:
        """The text with each placeholder replaced (missing variables are empty); ``escape``
        is applied to variable values only (URL quoting, for instance)."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                value = variables.get(part.name, "")
                out.append(escape(value) if escape else value)
        return "".join(out)


def parse_template(source: str, *, max_length: int = MAX_TEMPLATE_LENGTH) -> Template:
    """Parse ``{{name}}`` placeholders; raises :class:`ExprError` for an unclosed or stray
    brace pair or a placeholder that is not a variable name."""
    if not isinstance(source, str):
        raise ExprError(f"a template must be text, got {type(source).__name__}")
    if len(source) > max_length:
        raise ExprError(f"text longer than {max_length} characters")
    parts: list[str | _Var] = []
    i = 0
    while True:
        start = source.find("{{", i)
        stray = source.find("}}", i)
        if stray != -1 and (start == -1 or stray < start):
            raise ExprError("'}}' without a matching '{{'", stray)
        if start == -1:
            if i < len(source):
                parts.append(source[i:])
            break
        if start > i:
            parts.append(source[i:start])
        end = source.find("}}", start + 2)
        if end == -1:
            raise ExprError("'{{' is never closed with '}}'", start)
        name = source[start + 2 : end].strip()
        if not name:
            raise ExprError("empty '{{}}' placeholder", start)
        if not is_variable_name(name):
            raise ExprError(f"{name[:40]!r} is not a variable name", start)
        parts.append(_Var(name))
        i = end + 2
    return Template(source, tuple(parts))
