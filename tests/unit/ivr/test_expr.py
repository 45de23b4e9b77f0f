"""The IVR expression language and {{var}} templates: precedence, types, errors, hostile input."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glasshouse.domain.ivr import (
    EvalError,
    ExprError,
    ValueType,
    parse_expression,
    parse_template,
)
from glasshouse.domain.ivr.expr import MAX_DEPTH, MAX_EXPRESSION_LENGTH, is_variable_name

VARS = {"tier": "gold", "balance": "-250", "name": "Ada", "empty": "", "n": "7"}


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),  # left-associative
        ("2 * 3 % 4", 2),
        ("-2 * 3", -6),
        ("- -2", 2),
        ("7 / 2", 3),
        ("-7 / 2", -3),  # rounds toward zero
        ("-7 % 3", -1),  # remainder takes the dividend's sign
        ("7 % -3", 1),
        ("1 + 2 * 3 == 7", True),
        ("1 < 2 == true", None),  # chained comparison: a syntax error, checked below
        ("true or false and false", True),  # 'and' binds tighter than 'or'
        ("(true or false) and false", False),
        ("not false and false", False),  # 'not' binds tighter than 'and'
        ("not 1 == 2", True),  # ... and looser than comparison
        ("tier == 'gold' and int(balance) < 0", True),
        ("'a' + 'b' + tier", "abgold"),
        ("'abc' < 'abd'", True),
        ("missing == ''", True),  # a missing variable reads as empty text
        ('"it\\"s" + \'\\\\\'', 'it"s\\'),
        ("len(name) * 2", 6),
        ("upper(name) + lower('X')", "ADAx"),
        ("trim('  x ')", "x"),
        ("contains(tier, 'ol') and starts_with(tier, 'g') and ends_with(tier, 'd')", True),
        ("is_number(balance) and not is_number(name)", True),
        ("default(empty, 'none') + default(name, 'none')", "noneAda"),
        ("str(int(n) + 1) + str(true)", "8true"),
        ("int(' 42 ') == 42", True),
    ],
)
def test_values_and_precedence(source: str, value: object) -> None:
    if value is None:
        with pytest.raises(ExprError, match="chained"):
            parse_expression(source)
        return
    assert parse_expression(source).evaluate(VARS) == value


def test_static_types_and_variables() -> None:
    expr = parse_expression("int(balance) + len(name) > 0 or tier == 'x'")
    assert expr.type is ValueType.BOOL
    assert expr.variables == frozenset({"balance", "name", "tier"})
    assert parse_expression("tier").type is ValueType.TEXT
    assert parse_expression("int(n) * 2").type is ValueType.NUMBER


def test_or_and_short_circuit_so_a_guard_protects_a_conversion() -> None:
    guarded = parse_expression("is_number(name) and int(name) > 3")
    assert guarded.evaluate(VARS) is False
    assert parse_expression("true or int(name) > 3").evaluate(VARS) is True


@pytest.mark.parametrize(
    ("source", "fragment", "position"),
    [
        ("tier == 1", "compares text with number (variables are text", 5),
        ("1 < 2 < 3", "cannot be chained", 6),
        ("tier = 'x'", "use '==' to compare", 5),
        ("a && b", "use 'and'", 2),
        ("a || b", "use 'or'", 2),
        ("!a", "use 'not'", 0),
        ("not tier", "'not' needs true/false, got text", 0),
        ("tier and true", "'and' needs true/false on the left, got text", 5),
        ("1 + 'a'", "'+' needs two numbers or two texts, got number and text", 2),
        ("'a' - 'b'", "'-' needs two numbers, got text and text", 4),
        ("'a' * 2", "'*' needs two numbers", 4),
        ("-tier", "'-' needs a number, got text", 0),
        ("true < false", "cannot order true/false", 5),
        ("eval('1')", "unknown function 'eval'", 0),
        ("len()", "len() takes 1 argument(s), got 0", 0),
        ("len(1)", "len() argument 1 must be text, got number", 0),
        ("(1 + 2", "expected ')', found end of expression", 6),
        ("1 +", "unexpected end of expression", 3),
        ("1 2", "unexpected '2'", 2),
        ("'open", "unterminated string", 0),
        ("'a\\nb'", "unknown escape", 2),
        ("12abc", "malformed number", 0),
        ("1234567890123456789", "more than 18 digits", 0),
        ("a $ b", "unexpected character '$'", 2),
        ("and", "unexpected 'and'", 0),
        ("  ", "empty expression", None),
        ("__import__('os')", "unknown function '__import__'", 0),
        ("tier.upper()", "unexpected character '.'", 4),
    ],
)
def test_syntax_and_type_errors_name_the_problem_and_place(
    source: str, fragment: str, position: int | None
) -> None:
    with pytest.raises(ExprError) as info:
        parse_expression(source)
    assert fragment in str(info.value)
    assert info.value.position == position


@pytest.mark.parametrize(
    ("source", "variables", "fragment"),
    [
        ("int(name)", VARS, "'Ada' is not a whole number"),
        ("int(n) / 0", VARS, "'/' by zero"),
        ("int(n) % (int(n) - 7)", VARS, "'%' by zero"),
        ("999999999999999999 * 999999999999999999", VARS, "out of range"),
        ("upper(big) + big", {"big": "x" * 600}, "longer than 1024"),
    ],
)
def test_runtime_errors_are_typed(source: str, variables: dict[str, str], fragment: str) -> None:
    expr = parse_expression(source)
    with pytest.raises(EvalError, match=fragment):
        expr.evaluate(variables)


@pytest.mark.parametrize(
    "source",
    [
        "(" * 200 + "1" + ")" * 200,
        "not " * 100 + "true",
        "-" * 300 + "1",
        "+".join(["1"] * 200),
        "len(" * 80 + "'x'" + ")" * 80,
    ],
)
def test_deep_nesting_is_refused_without_recursing_forever(source: str) -> None:
    assert len(source) <= MAX_EXPRESSION_LENGTH
    with pytest.raises(ExprError, match=f"nested more than {MAX_DEPTH} levels"):
        parse_expression(source)


def test_nesting_just_under_the_limit_parses_and_evaluates() -> None:
    source = "(" * 60 + "1" + ")" * 60
    assert parse_expression(source).evaluate({}) == 1
    assert parse_expression("+".join(["1"] * 60)).evaluate({}) == 60


def test_oversized_source_is_refused_before_tokenising() -> None:
    with pytest.raises(ExprError, match="longer than 500"):
        parse_expression("(" * 100_000)


def test_non_text_source_is_a_typed_error() -> None:
    with pytest.raises(ExprError, match="must be text, got int"):
        parse_expression(3)  # type: ignore[arg-type]


@settings(deadline=None, max_examples=300)
@given(st.text(alphabet="()abn+-*/%<>=!'\"0129 ,_tuoreflsdi", max_size=80))
def test_any_text_either_parses_or_raises_expr_error(source: str) -> None:
    try:
        expr = parse_expression(source)
    except ExprError:
        return
    with contextlib.suppress(EvalError):
        expr.evaluate({"a": "1", "b": "x"})


@pytest.mark.parametrize(
    ("name", "ok"),
    [("caller", True), ("_x1", True), ("1x", False), ("not", False), ("a-b", False), ("", False)],
)
def test_variable_names(name: str, ok: bool) -> None:
    assert is_variable_name(name) is ok


# ---------------------------------------------------------------------------------------------
# templates


def test_template_renders_variables_and_leaves_single_braces() -> None:
    template = parse_template("Hi {{ name }}, your code is {{code}} {not a var}")
    assert template.variables == frozenset({"name", "code"})
    assert not template.is_literal
    assert template.render({"name": "Ada"}) == "Hi Ada, your code is  {not a var}"


def test_template_escape_applies_to_values_only() -> None:
    template = parse_template("/a b/{{q}}")
    assert template.render({"q": "x y"}, escape=lambda v: v.replace(" ", "%20")) == "/a b/x%20y"


def test_literal_template() -> None:
    template = parse_template("plain")
    assert template.is_literal
    assert template.render({}) == "plain"


@pytest.mark.parametrize(
    ("source", "fragment", "position"),
    [
        ("Hi {{name", "'{{' is never closed", 3),
        ("Hi {name}}", "'}}' without a matching '{{'", 8),
        ("{{}}", "empty '{{}}'", 0),
        ("x {{ 1 + 2 }}", "'1 + 2' is not a variable name", 2),
        ("{{and}}", "'and' is not a variable name", 0),
    ],
)
def test_template_errors(source: str, fragment: str, position: int) -> None:
    with pytest.raises(ExprError) as info:
        parse_template(source)
    assert fragment in str(info.value)
    assert info.value.position == position


def test_template_length_is_bounded() -> None:
    with pytest.raises(ExprError, match="longer than 10"):
        parse_template("x" * 11, max_length=10)
