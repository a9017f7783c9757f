"""Every code an engine, the worker or the domain can put on a task is in TASK_ERROR_CODES.

The source is scanned: each call that sets a task's code (``EngineError(...)``, ``relay_error(...)``,
an EngineError subclass's ``code=``, ``fail_task``/``_finish_with_refund``) has its code resolved to
string constants; a code that cannot be resolved, or is not in the table, fails the test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from grokimagine.engines.base import EngineError
from grokimagine.engines.relay import errors as relay_errors
from grokimagine.vocabulary import TASK_ERROR_CODES

SRC = Path(__file__).resolve().parents[2] / "src" / "grokimagine"
SCANNED = [
    *sorted((SRC / "engines").rglob("*.py")),
    *sorted((SRC / "worker").rglob("*.py")),
    *sorted((SRC / "domain").rglob("*.py")),
]

# Where each code-setting call takes its code: (position, keyword).
CODE_ARGUMENT = {
    "EngineError": (1, "code"),
    "relay_error": (0, "code"),
    "fail_task": (2, "code"),
    "_finish_with_refund": (3, "code"),
}


class Unresolved(Exception):
    """A code expression the scanner cannot reduce to string constants."""


def _constants(tree: ast.Module) -> dict[str, str]:
    found = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            found[node.targets[0].id] = node.value.value
    return found


RELAY_CONSTANTS = _constants(ast.parse(Path(relay_errors.__file__).read_text()))


def _resolve(
    expr: ast.expr,
    tree: ast.Module,
    constants: dict[str, str],
    params: frozenset[str] = frozenset(),
) -> set[str]:
    """The string codes ``expr`` can take.

    Pass-throughs give none: an existing error's ``.code``, or a parameter of the enclosing
    function (``relay_error(code, ...)``, whose callers are scanned themselves).
    """
    if isinstance(expr, ast.Name) and expr.id in params and expr.id not in constants:
        return set()
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return {expr.value}
    if isinstance(expr, ast.IfExp):
        return _resolve(expr.body, tree, constants) | _resolve(expr.orelse, tree, constants)
    if isinstance(expr, ast.Attribute) and expr.attr == "code":
        return set()  # re-raising an error that already carries a checked code
    if isinstance(expr, ast.Name):
        if expr.id in constants:
            return {constants[expr.id]}
        values = [
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == expr.id for t in node.targets)
        ]
        if values:
            return set().union(*(_resolve(value, tree, constants) for value in values))
    raise Unresolved(ast.unparse(expr))


def _call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def codes_in_source(source: str) -> set[str]:
    """Every task error code the module ``source`` can set."""
    tree = ast.parse(source)
    constants = {**RELAY_CONSTANTS, **_constants(tree)}
    params_of: dict[int, frozenset[str]] = {}
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            names = frozenset(a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg))
            for inner in ast.walk(function):
                params_of[id(inner)] = names  # innermost function wins: walked last
    codes: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        keyword = next((k.value for k in node.keywords if k.arg == "code"), None)
        if name in CODE_ARGUMENT:
            position, _ = CODE_ARGUMENT[name]
            expr = keyword or (node.args[position] if len(node.args) > position else None)
            if expr is None:  # EngineError's default
                codes.add("ENGINE_FAILED")
                continue
        elif name == "__init__" and keyword is not None:  # an EngineError subclass
            expr = keyword
        else:
            continue
        codes |= _resolve(expr, tree, constants, params_of.get(id(node), frozenset()))
    return codes


def test_the_scanner_finds_codes_of_every_kind() -> None:
    # Sanity: literals, constants, keyword codes of subclasses, locals chosen by IfExp, defaults,
    # and the domain's and worker's own.
    found = set().union(*(codes_in_source(path.read_text()) for path in SCANNED))
    assert {
        "OUT_OF_MEMORY",
        "TEXT_TO_VIDEO_UNAVAILABLE",
        "MODEL_NOT_FOUND",
        "PROVIDER_BUSY",
        "CONTENT_REJECTED",
        "PROVIDER_FAILED",
        "INVALID_REQUEST",
        "ATTEMPTS_EXHAUSTED",
        "CANCELED",
        "INTERNAL_ERROR",
    } <= found


def test_a_code_outside_the_table_is_caught() -> None:
    source = 'def f():\n    raise EngineError("boom", "SOMETHING_NEW")\n'
    assert codes_in_source(source) - set(TASK_ERROR_CODES) == {"SOMETHING_NEW"}
    with pytest.raises(Unresolved):
        codes_in_source("def f(x):\n    raise relay_error(x.upper(), 'm')\n")


@pytest.mark.parametrize("path", SCANNED, ids=lambda path: str(path.relative_to(SRC)))
def test_every_code_set_on_a_task_is_in_the_table(path: Path) -> None:
    unknown = codes_in_source(path.read_text()) - set(TASK_ERROR_CODES)
    assert not unknown, f"{path.name} sets codes missing from TASK_ERROR_CODES: {unknown}"


def test_relay_codes_and_the_default_are_in_the_table() -> None:
    assert set(relay_errors.FALLBACK_BY_CODE) <= set(TASK_ERROR_CODES)
    assert EngineError("x").code in TASK_ERROR_CODES


def test_every_code_has_a_sentence() -> None:
    for code, sentence in TASK_ERROR_CODES.items():
        assert code.isupper() and len(code) <= 40  # tasks.error_code is VARCHAR(40)
        assert len(sentence.split()) >= 3, code


def test_the_openapi_document_lists_the_codes() -> None:
    from grokimagine.http.v1.schemas import TaskError

    description = TaskError.model_json_schema()["properties"]["code"]["description"]
    for code in TASK_ERROR_CODES:
        assert f"{code}:" in description
