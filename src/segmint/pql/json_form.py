"""pql/json: a lossless mapping between the syntactic PQL tree and Adobe's JSON node kinds.

``to_json(parse(text))`` gives the pql/json document of a query and ``from_json(doc)`` the tree
back, with ``from_json(to_json(e)) == e`` for every tree ``parse`` builds. The node kinds are
those of pql.md §11.1; published shapes are reproduced exactly (``workAddress.country = "US"``
is Adobe's conversion example), unpublished ones use the names below (pql.md §15.16).

=====================================  ===========================================================
pql/text                               pql/json
=====================================  ===========================================================
bare name ``a``                        ``fieldLookup a`` on ``parameterReference 1`` (the implicit
                                       object in context), or ``varRef a`` where a variable is
                                       in scope
``$n``                                 ``parameterReference n``; ``$1.a`` adds ``"explicit": true``
``this``                               ``varRef this``
``^^.a``                               ``fieldLookup a`` on ``fnApply up [2]``
``x.f``                                ``fieldLookup f`` on x
literals                               ``literal`` String, Integer, Double, Boolean (Date and
                                       DateTime for checked trees)
``a OP b``, ``not a``, ``-a``          ``fnApply OP`` (``and``/``or`` n-ary for left chains)
``x.f(a)``, ``f(a)``                   ``fnApply f [x, a]``, ``fnApply f [a]``; ``"syntax":
                                       "method"|"function"`` only where the default reading
                                       (known functions and zero-parameter calls are functions,
                                       the rest methods) would differ
``xEvent``                             ``fnApply modelInstances ["…/experienceevent"]``
``@{id}``                              ``fnApply contextData ["id"]``
``[a, b]``, ``{"k": v}``               ``fnApply list [a, b]``, ``fnApply object ["k", v]``
``a[p]``                               ``fnApply filter [a, fnCreate (this) => p]``
``t occurs < 3 days before now``       ``fnApply occurs [t, "<", 3, "day", "before", now]``
``t occurs before R`` / ``on R``       ``fnApply occurs [t, "before", R]`` / ``[t, "on", R]``
``t occurs between A and B``           ``fnApply occurs [t, "between", A, B]``
``now``, ``last month``                ``fnApply now []``, ``fnApply last ["month"]``
``select V from s where c, …``         ``fnApply select [varDecl…]``
``exists``/``some``/``forall`` …       ``quantification`` with ``variables`` (``varDecl``)
``sum e over V from s, …``             ``fnApply sumOver [e, varDecl…]`` (also ``averageOver``,
                                       ``minOver``, ``maxOver``; short form without ``e``)
``let x = v in b``                     ``fnApply`` with ``function`` ``fnCreate (x) => b`` and
                                       ``params [v]``
``(a, b) => e``                        ``fnCreate``
``chain(e, ts, [S, …])``               ``fnApply chain [e, "ts", chainStep…]``; a step is
                                       ``fnApply chainStep ["A", what [p], when [occurs],
                                       where [p], count [n]]``; a label is a variable in its
                                       own and later steps
=====================================  ===========================================================

On input older spellings are accepted too: lower-case ``literalType`` names, numbers and
booleans written as strings, ``literal XDMObject "profile"`` for the profile, ``xdm:``-prefixed
field names, a ``varDecl`` ``range`` instead of ``from``, and ``lambda`` nodes with
``varNames``. Anything else that is not pql/json raises ``PQLSyntaxError`` naming the JSON path,
and so does a document whose pql/text the parser would refuse (e.g. nested too deeply).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, ClassVar, TypeAlias

from segmint.pql import ast
from segmint.pql.errors import PQLSyntaxError
from segmint.pql.parser import MAX_DEPTH, RESERVED, UNITS, parse
from segmint.pql.printer import format

JSONDoc: TypeAlias = dict[str, Any]

EVENT_MODEL = "https://ns.adobe.com/xdm/context/experienceevent"
# A JSON document nests more nodes than pql/text counts levels (operands, anchors, chain steps);
# beyond this bound on the decoder's recursion, the printed text must also pass the parser's.
MAX_JSON_DEPTH = 5 * MAX_DEPTH
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
INTEGER_TEXT = re.compile(r"[+-]?[0-9]{1,40}")
DOUBLE_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

LOGICAL = ("and", "or")
BINARY_OPERATORS = frozenset(
    {"=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "in", "notIn", "like", "matches"}
)
TIME_WORDS = ("now", "today", "yesterday", "tomorrow")
PERIOD_WORDS = ("this", "last", "next")
AGGREGATE_SUFFIX = "Over"
AGGREGATES = ("sum", "average", "min", "max")
QUANTIFIERS = ("exists", "some", "forall")
COMPARATORS = ("=", "!=", "<", "<=", ">", ">=")
DIRECTIONS = ("before", "after", "from")
# fnNames that denote a construct rather than a method or function call.
CONSTRUCTS = frozenset(
    {
        *LOGICAL, *BINARY_OPERATORS, "not", "list", "object", "filter", "occurs", "select",
        *(name + AGGREGATE_SUFFIX for name in AGGREGATES), "chain", "modelInstances",
        "contextData", "up", *TIME_WORDS, *PERIOD_WORDS,
    }
)  # fmt: skip
# Functions read as calls even with parameters; every other fnName with parameters is a method.
KNOWN_FUNCTIONS = frozenset(
    {"date", "if", "inSegment", "currentMonth", "currentYear", "currentDayOfMonth", "mapEntry"}
)
LITERAL_TYPES = {
    "string": ast.LiteralKind.STRING,
    "integer": ast.LiteralKind.INTEGER,
    "long": ast.LiteralKind.INTEGER,
    "double": ast.LiteralKind.DOUBLE,
    "boolean": ast.LiteralKind.BOOLEAN,
    "date": ast.LiteralKind.DATE,
    "datetime": ast.LiteralKind.DATETIME,
}


def to_json(expr: ast.Expr) -> JSONDoc:
    """The pql/json document of ``expr``; ``ValueError`` for a value JSON cannot hold."""
    return _Encoder().node(expr, frozenset())


def to_json_text(expr: ast.Expr) -> str:
    """``to_json(expr)`` serialised compactly, as the ``value`` of a pql/json expression."""
    return json.dumps(to_json(expr), separators=(",", ":"), allow_nan=False)


def from_json(doc: Mapping[str, Any] | str) -> ast.Expr:
    """The syntactic tree of a pql/json document (a dict or its JSON text)."""
    source = doc if isinstance(doc, str) else ""
    if isinstance(doc, str):
        doc = _load(doc)
    return _Decoder(source).root(doc)


def call_style(name: str, param_count: int) -> str:
    """How an ``fnApply`` without ``syntax`` reads: ``construct``, ``function`` or ``method``."""
    if name in CONSTRUCTS:
        return "construct"
    if name in KNOWN_FUNCTIONS or param_count == 0:
        return "function"
    return "method"


def _load(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        message = f"pql/json is not JSON: {error.msg}"
        raise PQLSyntaxError(message, source=text, line=error.lineno, column=error.colno) from None
    except (ValueError, RecursionError) as error:
        raise PQLSyntaxError(f"pql/json is not JSON: {error}", source=text) from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# --- encoding ----------------------------------------------------------------------------------


def _apply(name: str, params: Sequence[JSONDoc]) -> JSONDoc:
    return {"nodeType": "fnApply", "fnName": name, "params": list(params)}


def _literal(kind: str, value: Any) -> JSONDoc:
    return {"nodeType": "literal", "literalType": kind, "value": value}


def _lookup(name: str, target: JSONDoc) -> JSONDoc:
    return {"nodeType": "fieldLookup", "fieldName": name, "object": target}


def _parameter(position: int) -> JSONDoc:
    return {"nodeType": "parameterReference", "position": position}


def _var_ref(name: str) -> JSONDoc:
    return {"nodeType": "varRef", "varName": name}


def _fn_create(params: Sequence[str], body: JSONDoc) -> JSONDoc:
    return {"nodeType": "fnCreate", "params": [{"varName": p} for p in params], "body": body}


Bound: TypeAlias = frozenset[str]


class _Encoder:
    def node(self, node: ast.Expr, bound: Bound) -> JSONDoc:
        return self._RULES[type(node)](self, node, bound)

    def _nodes(self, nodes: Sequence[ast.Expr], bound: Bound) -> list[JSONDoc]:
        return [self.node(node, bound) for node in nodes]

    # --- values and references -------------------------------------------------------------

    def _literal(self, node: ast.Literal, bound: Bound) -> JSONDoc:
        value = node.value
        if node.kind is ast.LiteralKind.DOUBLE:
            assert isinstance(value, int | float)
            if not math.isfinite(value):
                raise ValueError(f"{value} has no pql/json form")
            return _literal("Double", float(value))
        if isinstance(value, datetime):
            return _literal("DateTime", value.isoformat() + "Z")
        if isinstance(value, date):
            return _literal("Date", value.isoformat())
        return _literal(node.kind.value, value)

    def _list(self, node: ast.ListLiteral, bound: Bound) -> JSONDoc:
        return _apply("list", self._nodes(node.items, bound))

    def _object(self, node: ast.ObjectLiteral, bound: Bound) -> JSONDoc:
        params: list[JSONDoc] = []
        for key, value in node.entries:
            params += [_literal("String", key), self.node(value, bound)]
        return _apply("object", params)

    def _name(self, node: ast.Name | ast.VarRef, bound: Bound) -> JSONDoc:
        if node.name in bound or isinstance(node, ast.VarRef):
            return _var_ref(node.name)
        return _lookup(node.name, _parameter(1))

    def _param(self, node: ast.ParamRef, bound: Bound) -> JSONDoc:
        return _parameter(node.position)

    def _scope(self, node: ast.ImplicitScope, bound: Bound) -> JSONDoc:
        if node.depth:
            raise ValueError("an outer implicit scope has no pql/json form without a field")
        return _var_ref("this")

    def _xevent(self, node: ast.XEvent, bound: Bound) -> JSONDoc:
        return _apply("modelInstances", [_literal("String", EVENT_MODEL)])

    def _context(self, node: ast.ContextRef, bound: Bound) -> JSONDoc:
        return _apply("contextData", [_literal("String", node.schema_id)])

    def _up_ref(self, node: ast.UpRef, bound: Bound) -> JSONDoc:
        return _lookup(node.name, _apply("up", [_literal("Integer", node.levels)]))

    def _field(self, node: ast.FieldLookup, bound: Bound) -> JSONDoc:
        target = node.target
        if isinstance(target, ast.ImplicitScope) and target.depth:
            return self._up_ref(ast.UpRef(target.depth, node.field_name), bound)
        if isinstance(target, ast.ParamRef) and target.position == 1:
            return _lookup(node.field_name, {**_parameter(1), "explicit": True})
        return _lookup(node.field_name, self.node(target, bound))

    def _filter(self, node: ast.Filter, bound: Bound) -> JSONDoc:
        predicate = _fn_create(["this"], self.node(node.condition, bound))
        return _apply("filter", [self.node(node.target, bound), predicate])

    # --- operators and calls ---------------------------------------------------------------

    def _unary(self, node: ast.Unary, bound: Bound) -> JSONDoc:
        return _apply(node.op, [self.node(node.operand, bound)])

    def _binary(self, node: ast.Binary, bound: Bound) -> JSONDoc:
        if node.op not in LOGICAL:
            return _apply(node.op, self._nodes((node.left, node.right), bound))
        # A left-nested `and`/`or` chain becomes one n-ary application, walked in a loop.
        rights: list[ast.Expr] = []
        left: ast.Expr = node
        while isinstance(left, ast.Binary) and left.op == node.op:
            rights.append(left.right)
            left = left.left
        return _apply(node.op, self._nodes((left, *reversed(rights)), bound))

    def _method(self, node: ast.MethodCall, bound: Bound) -> JSONDoc:
        doc = _apply(node.method, self._nodes((node.target, *node.args), bound))
        if call_style(node.method, len(doc["params"])) != "method":
            doc["syntax"] = "method"
        return doc

    def _call(self, node: ast.FunctionCall, bound: Bound) -> JSONDoc:
        doc = _apply(node.name, self._nodes(node.args, bound))
        if call_style(node.name, len(doc["params"])) != "function":
            doc["syntax"] = "function"
        return doc

    # --- time ----------------------------------------------------------------------------------

    def _time_ref(self, node: ast.TimeRef, bound: Bound) -> JSONDoc:
        units = [] if node.unit is None else [_literal("String", node.unit.value)]
        return _apply(node.kind, units)

    def _occurs(self, node: ast.Occurs, bound: Bound) -> JSONDoc:
        return _apply("occurs", [self.node(node.target, bound), *self._occurs_tail(node, bound)])

    def _occurs_tail(self, node: ast.Occurs, bound: Bound) -> list[JSONDoc]:
        anchor = self.node(node.anchor, bound)
        if node.form == "relative":
            assert node.comparator and node.amount is not None and node.unit and node.direction
            return [
                _literal("String", node.comparator),
                _literal("Integer", node.amount),
                _literal("String", node.unit.value),
                _literal("String", node.direction),
                anchor,
            ]
        if node.form == "direction":
            assert node.direction is not None
            return [_literal("String", node.direction), anchor]
        if node.form == "between":
            assert node.anchor2 is not None
            return [_literal("String", "between"), anchor, self.node(node.anchor2, bound)]
        return [_literal("String", "on"), anchor]

    # --- binding constructs ------------------------------------------------------------------

    def _bindings(
        self, bindings: Sequence[ast.Binding], bound: Bound
    ) -> tuple[list[JSONDoc], Bound]:
        """The ``varDecl`` nodes, each variable visible from its own condition on."""
        declarations = []
        for binding in bindings:
            source = self.node(binding.source, bound)
            bound = bound | {binding.var}
            declaration = {"nodeType": "varDecl", "varName": binding.var, "from": source}
            if binding.condition is not None:
                declaration["where"] = self.node(binding.condition, bound)
            declarations.append(declaration)
        return declarations, bound

    def _select(self, node: ast.Select, bound: Bound) -> JSONDoc:
        return _apply("select", self._bindings(node.bindings, bound)[0])

    def _quantified(self, node: ast.Quantified, bound: Bound) -> JSONDoc:
        variables = self._bindings(node.bindings, bound)[0]
        return {"nodeType": "quantification", "quantifier": node.quantifier, "variables": variables}

    def _aggregate(self, node: ast.Aggregate, bound: Bound) -> JSONDoc:
        declarations, inner = self._bindings(node.bindings, bound)
        value = [] if node.value is None else [self.node(node.value, inner)]
        return _apply(node.function + AGGREGATE_SUFFIX, value + declarations)

    def _let(self, node: ast.Let, bound: Bound) -> JSONDoc:
        body = self.node(node.body, bound | {node.name})
        function = _fn_create([node.name], body)
        return {
            "nodeType": "fnApply",
            "function": function,
            "params": [self.node(node.value, bound)],
        }

    def _lambda(self, node: ast.Lambda, bound: Bound) -> JSONDoc:
        return _fn_create(node.params, self.node(node.body, bound | set(node.params)))

    def _chain(self, node: ast.Chain, bound: Bound) -> JSONDoc:
        events = self.node(node.events, bound)
        steps = []
        for step in node.steps:  # a label names its step's event there and in later steps
            bound = bound | {step.label}
            steps.append(self._step(step, node.timestamp_field, bound))
        return _apply("chain", [events, _literal("String", node.timestamp_field), *steps])

    def _step(self, step: ast.ChainStep, timestamp: str, bound: Bound) -> JSONDoc:
        clauses = [_literal("String", step.label), _apply("what", [self.node(step.what, bound)])]
        if step.when is not None:
            target = _lookup(timestamp, _parameter(1))
            occurs = _apply("occurs", [target, *self._occurs_tail(step.when, bound)])
            clauses.append(_apply("when", [occurs]))
        if step.where is not None:
            clauses.append(_apply("where", [self.node(step.where, bound)]))
        if step.count is not None:
            clauses.append(_apply("count", [_literal("Integer", step.count)]))
        return _apply("chainStep", clauses)

    _RULES: ClassVar[dict[type, Callable[[_Encoder, Any, Bound], JSONDoc]]] = {
        ast.Literal: _literal,
        ast.ListLiteral: _list,
        ast.ObjectLiteral: _object,
        ast.Name: _name,
        ast.VarRef: _name,
        ast.ParamRef: _param,
        ast.ImplicitScope: _scope,
        ast.XEvent: _xevent,
        ast.ContextRef: _context,
        ast.UpRef: _up_ref,
        ast.FieldLookup: _field,
        ast.Filter: _filter,
        ast.Unary: _unary,
        ast.Binary: _binary,
        ast.MethodCall: _method,
        ast.FunctionCall: _call,
        ast.TimeRef: _time_ref,
        ast.Occurs: _occurs,
        ast.Select: _select,
        ast.Quantified: _quantified,
        ast.Aggregate: _aggregate,
        ast.Let: _let,
        ast.Lambda: _lambda,
        ast.Chain: _chain,
    }


# --- decoding ----------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_double_text(value: Any) -> bool:
    return isinstance(value, str) and DOUBLE_TEXT.fullmatch(value) is not None


def _is_identifier(name: str) -> bool:
    return WORD.fullmatch(name) is not None and name.lower() not in RESERVED


def _is_plain_apply(doc: Any, names: Sequence[str] | frozenset[str]) -> bool:
    """An ``fnApply`` of one of ``names`` read as a construct (no ``function``/``syntax``)."""
    return (
        isinstance(doc, dict)
        and doc.get("nodeType") == "fnApply"
        and doc.get("fnName") in names
        and "function" not in doc
        and doc.get("syntax") is None
    )


def _has_operands(doc: dict[str, Any]) -> bool:
    params = doc.get("params")
    return isinstance(params, list) and len(params) >= 2


def _is_implicit_profile(doc: Any) -> bool:
    """``parameterReference 1`` (not marked explicit) or the older ``XDMObject "profile"``."""
    if not isinstance(doc, dict):
        return False
    if doc.get("nodeType") == "parameterReference":
        position = doc.get("position")
        return (position == "1" or (_is_int(position) and position == 1)) and doc.get(
            "explicit", False
        ) is False
    literal_type = doc.get("literalType")
    return (
        doc.get("nodeType") == "literal"
        and isinstance(literal_type, str)
        and literal_type.lower() == "xdmobject"
        and doc.get("value") == "profile"
    )


def _is_declaration(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("nodeType") == "varDecl"


def _negate(operand: ast.Expr) -> ast.Expr:
    """Unary minus, folded into a number literal as the parser does."""
    numeric = (ast.LiteralKind.INTEGER, ast.LiteralKind.DOUBLE)
    if isinstance(operand, ast.Literal) and operand.kind in numeric:
        assert isinstance(operand.value, int | float)
        return ast.Literal(-operand.value, operand.kind)
    return ast.Unary("-", operand)


Rule: TypeAlias = Callable[["_Decoder", str, list[Any], str, Bound], ast.Expr]


class _Decoder:
    def __init__(self, source: str) -> None:
        self._source = source
        self._depth = 0

    def root(self, doc: Any) -> ast.Expr:
        try:
            tree = self.node(doc, "$", frozenset())
        except RecursionError:
            raise self._error("$", "the document is nested too deeply") from None
        self._check_text_form(tree)
        return tree

    def _check_text_form(self, tree: ast.Expr) -> None:
        """Accept only what pql/text could say, within the same nesting limits as the parser,
        so that every later stage sees trees no deeper than parsed ones."""
        try:
            parse(format(tree))
        except RecursionError:
            raise self._error("$", "the document is nested too deeply") from None
        except (PQLSyntaxError, ValueError) as error:
            message = error.message if isinstance(error, PQLSyntaxError) else str(error)
            raise self._error("$", f"no valid pql/text form: {message}") from None

    def node(self, doc: Any, path: str, bound: Bound) -> ast.Expr:
        if not isinstance(doc, dict):
            raise self._error(path, f"expected a node (a JSON object), found {_describe(doc)}")
        node_type = self._string(doc, "nodeType", path)
        rule = self._NODE_RULES.get(node_type)
        if rule is None:
            raise self._error(path, f"unknown nodeType `{node_type}`")
        self._depth += 1
        try:
            if self._depth > MAX_JSON_DEPTH:
                raise self._error(path, f"nodes nest more than {MAX_JSON_DEPTH} levels deep")
            if node_type != "fnApply" or "function" in doc:
                return rule(self, doc, path, bound)
            # Applications dispatched here, not in a rule of their own: one stack frame less.
            construct, name, params = self._apply_rule(doc, path)
            return construct(self, name, params, path, bound)
        finally:
            self._depth -= 1

    def _nodes(
        self, docs: Sequence[Any], path: str, bound: Bound, start: int = 0
    ) -> tuple[ast.Expr, ...]:
        nodes = []
        for index in range(start, len(docs)):  # a loop, not a generator: one frame less
            nodes.append(self.node(docs[index], f"{path}[{index}]", bound))
        return tuple(nodes)

    # --- fields ------------------------------------------------------------------------------

    def _error(self, path: str, message: str) -> PQLSyntaxError:
        if len(path) > 160:
            path = f"{path[:80]}…{path[-60:]}"
        return PQLSyntaxError(f"invalid pql/json at {path}: {message}", source=self._source)

    def _field(self, doc: dict[str, Any], key: str, path: str) -> Any:
        if key not in doc:
            raise self._error(path, f"missing field `{key}`")
        return doc[key]

    def _string(self, doc: dict[str, Any], key: str, path: str) -> str:
        value = self._field(doc, key, path)
        if not isinstance(value, str):
            raise self._error(f"{path}.{key}", f"expected a string, found {_describe(value)}")
        return value

    def _list(self, doc: dict[str, Any], key: str, path: str) -> list[Any]:
        value = self._field(doc, key, path)
        if not isinstance(value, list):
            raise self._error(f"{path}.{key}", f"expected an array, found {_describe(value)}")
        return value

    def _identifier(self, name: str, path: str, what: str) -> str:
        if not _is_identifier(name):
            raise self._error(path, f"`{name}` is not a valid {what}")
        return name

    def _word(self, name: str, path: str, what: str) -> str:
        if WORD.fullmatch(name) is None:
            raise self._error(path, f"`{name}` is not a valid {what}")
        return name

    def _count(self, params: list[Any], path: str, expected: str, ok: bool) -> None:
        if not ok:
            raise self._error(f"{path}.params", f"expected {expected}, found {len(params)}")

    # --- literals ------------------------------------------------------------------------------

    def _literal(self, doc: dict[str, Any], path: str, bound: Bound) -> ast.Expr:
        if _is_implicit_profile(doc):
            return ast.ParamRef(1)
        kind = self._literal_kind(doc, path)
        value = self._field(doc, "value", path)
        convert = self._LITERAL_VALUES[kind]
        return ast.Literal(convert(self, value, f"{path}.value"), kind)

    def _literal_kind(self, doc: dict[str, Any], path: str) -> ast.LiteralKind:
        name = self._string(doc, "literalType", path)
        kind = LITERAL_TYPES.get(name.lower())
        if kind is None:
            raise self._error(f"{path}.literalType", f"unknown literalType `{name}`")
        return kind

    def _string_value(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise self._error(path, f"expected a string, found {_describe(value)}")
        return value

    def _integer_value(self, value: Any, path: str) -> int:
        if _is_int(value):
            return int(value)
        if isinstance(value, str) and INTEGER_TEXT.fullmatch(value):
            return int(value)
        raise self._error(path, f"expected an integer, found {_describe(value)}")

    def _double_value(self, value: Any, path: str) -> float:
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        number = float(value) if numeric or _is_double_text(value) else None
        if number is None or not math.isfinite(number):
            raise self._error(path, f"expected a finite number, found {_describe(value)}")
        return number

    def _boolean_value(self, value: Any, path: str) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise self._error(path, f"expected a boolean, found {_describe(value)}")

    def _date_value(self, value: Any, path: str) -> date:
        try:
            return date.fromisoformat(self._string_value(value, path))
        except ValueError:
            raise self._error(path, f"expected an ISO date, found {_describe(value)}") from None

    def _datetime_value(self, value: Any, path: str) -> datetime:
        try:
            instant = datetime.fromisoformat(self._string_value(value, path))
        except ValueError:
            raise self._error(
                path, f"expected an ISO date-time, found {_describe(value)}"
            ) from None
        if instant.tzinfo is not None:
            instant = instant.astimezone(UTC).replace(tzinfo=None)
        return instant

    def _string_literal(self, doc: Any, path: str) -> str:
        value = self._typed_literal(doc, path, ast.LiteralKind.STRING)
        assert isinstance(value, str)
        return value

    def _integer_literal(self, doc: Any, path: str, minimum: int = 0) -> int:
        value = self._typed_literal(doc, path, ast.LiteralKind.INTEGER)
        assert isinstance(value, int)
        if value < minimum:
            raise self._error(path, f"expected at least {minimum}, found {value}")
        return value

    def _typed_literal(self, doc: Any, path: str, kind: ast.LiteralKind) -> object:
        literal = self.node(doc, path, frozenset())
        if not isinstance(literal, ast.Literal) or literal.kind is not kind:
            raise self._error(path, f"expected a {kind.value} literal")
        return literal.value

    # --- references --------------------------------------------------------------------------

    def _parameter(self, doc: dict[str, Any], path: str, bound: Bound) -> ast.Expr:
        position = self._integer_value(self._field(doc, "position", path), f"{path}.position")
        if position < 1:
            raise self._error(f"{path}.position", "parameters are numbered from 1")
        if not isinstance(doc.get("explicit", False), bool):
            raise self._error(f"{path}.explicit", "expected a boolean")
        return ast.ParamRef(position)

    def _var_ref(self, doc: dict[str, Any], path: str, bound: Bound) -> ast.Expr:
        name = self._string(doc, "varName", path)
        if name == "this":
            return ast.ImplicitScope(0)
        return ast.Name(self._identifier(name, f"{path}.varName", "variable name"))

    def _field_lookup(self, doc: dict[str, Any], path: str, bound: Bound) -> ast.Expr:
        name = self._string(doc, "fieldName", path).removeprefix("xdm:")
        self._word(name, f"{path}.fieldName", "field name")
        target = self._field(doc, "object", path)
        if _is_implicit_profile(target):
            if _is_identifier(name) and name not in bound:
                return ast.Name(name)
            return ast.FieldLookup(ast.ParamRef(1), name)
        if _is_plain_apply(target, ("up",)):
            return ast.UpRef(self._up_levels(target, f"{path}.object"), name)
        return ast.FieldLookup(self.node(target, f"{path}.object", bound), name)

    def _up_levels(self, doc: dict[str, Any], path: str) -> int:
        params = self._list(doc, "params", path)
        self._count(params, path, "1 parameter (the number of levels)", len(params) == 1)
        return self._integer_literal(params[0], f"{path}.params[0]", minimum=1)

    # --- functions -----------------------------------------------------------------------------

    def _function_parts(self, doc: Any, path: str) -> tuple[list[str], Any]:
        """The parameter names and body of an ``fnCreate`` (or older ``lambda``) node."""
        if not isinstance(doc, dict) or doc.get("nodeType") not in ("fnCreate", "lambda"):
            raise self._error(path, "expected an fnCreate node")
        if doc["nodeType"] == "lambda":
            names = self._list(doc, "varNames", path)
        else:
            names = [self._parameter_name(p, f"{path}.params[{i}]") for i, p in
                     enumerate(self._list(doc, "params", path))]  # fmt: skip
        for index, name in enumerate(names):
            if not isinstance(name, str):
                raise self._error(f"{path}.varNames[{index}]", "expected a string")
        return names, self._field(doc, "body", path)

    def _parameter_name(self, doc: Any, path: str) -> str:
        if not isinstance(doc, dict):
            raise self._error(path, f'expected {{"varName": …}}, found {_describe(doc)}')
        return self._string(doc, "varName", path)

    def _lambda(self, doc: dict[str, Any], path: str, bound: Bound) -> ast.Expr:
        names, body = self._function_parts(doc, path)
        if not names:
            raise self._error(path, "a function needs at least one parameter")
        for name in names:
            self._identifier(name, path, "parameter name")
        return ast.Lambda(tuple(names), self.node(body, f"{path}.body", bound | set(names)))

    def _let(self, doc: dict[str, Any], path: str, bound: Bound) -> ast.Expr:
        names, body = self._function_parts(doc["function"], f"{path}.function")
        params = self._list(doc, "params", path)
        one = len(names) == 1 and len(params) == 1
        self._count(params, path, "a one-parameter function applied to 1 value", one)
        name = self._identifier(names[0], f"{path}.function", "variable name")
        value = self.node(params[0], f"{path}.params[0]", bound)
        return ast.Let(name, value, self.node(body, f"{path}.function.body", bound | {name}))

    # --- fnApply -------------------------------------------------------------------------------

    def _apply_rule(self, doc: dict[str, Any], path: str) -> tuple[Rule, str, list[Any]]:
        """How to read an ``fnApply`` by name: a construct, a method or a function call."""
        name = self._string(doc, "fnName", path)
        params = self._list(doc, "params", path)
        syntax = doc.get("syntax")
        if syntax is None:
            syntax = call_style(name, len(params))
        elif syntax not in ("method", "function"):
            raise self._error(f"{path}.syntax", "expected `method` or `function`")
        if syntax == "method":
            return _Decoder._method, name, params
        if syntax == "function":
            return _Decoder._call, name, params
        return self._CONSTRUCT_RULES[name], name, params

    def _method(self, name: str, params: list[Any], path: str, bound: Bound) -> ast.Expr:
        self._word(name, f"{path}.fnName", "method name")
        self._count(params, path, "the receiver as the first parameter", bool(params))
        target, *args = self._nodes(params, f"{path}.params", bound)
        return ast.MethodCall(target, name, tuple(args))

    def _call(self, name: str, params: list[Any], path: str, bound: Bound) -> ast.Expr:
        if name != "if":
            self._identifier(name, f"{path}.fnName", "function name")
        return ast.FunctionCall(name, self._nodes(params, f"{path}.params", bound))

    def _logical(self, name: str, params: list[Any], path: str, bound: Bound) -> ast.Expr:
        """A (possibly n-ary) ``and``/``or``, walking nested left operands in a loop."""
        spine = [(params, path)]
        first: Any = params[0] if len(params) >= 2 else None
        while _is_plain_apply(first, (name,)) and _has_operands(first):
            path = f"{path}.params[0]"
            spine.append((first["params"], path))
            first = first["params"][0]
        self._count(params, spine[0][1], "2 or more parameters", len(params) >= 2)
        result = self.node(first, f"{path}.params[0]", bound)
        for operands, operands_path in reversed(spine):
            for index in range(1, len(operands)):
                right = self.node(operands[index], f"{operands_path}.params[{index}]", bound)
                result = ast.Binary(name, result, right)
        return result

    def _operator(self, name: str, params: list[Any], path: str, bound: Bound) -> ast.Expr:
        operands = self._nodes(params, f"{path}.params", bound)
        if name == "-" and len(operands) == 1:
            return _negate(operands[0])
        if name == "not" and len(operands) == 1:
            return ast.Unary("not", operands[0])
        expected = "1 parameter" if name == "not" else "2 parameters"
        self._count(params, path, expected, name != "not" and len(operands) == 2)
        return ast.Binary(name, operands[0], operands[1])

    def _list_literal(self, name: str, params: list[Any], path: str, bound: Bound) -> ast.Expr:
        return ast.ListLiteral(self._nodes(params, f"{path}.params", bound))

    def _object_literal(self, name: str, params: list[Any], path: str, bound: Bound) -> ast.Expr:
        self._count(params, path, "key and value pairs", len(params) % 2 == 0)
        entries = []
        for index in range(0, len(params), 2):
            key = self._string_literal(params[index], f"{path}.params[{index}]")
            value = self.node(params[index + 1], f"{path}.params[{index + 1}]", bound)
            entries.append((key, value))
        return ast.ObjectLiteral(tuple(entries))

    def _filter(self, name: str, params: list[Any], path: str, bound: Bound) -> ast.Expr:
        self._count(params, path, "2 parameters (array, fnCreate)", len(params) == 2)
        target = self.node(params[0], f"{path}.params[0]", bound)
        names, body = self._function_parts(params[1], f"{path}.params[1]")
        if names != ["this"]:
            predicate = self._lambda(params[1], f"{path}.params[1]", bound)
            return ast.MethodCall(target, "filter", (predicate,))
        return ast.Filter(target, self.node(body, f"{path}.params[1].body", bound))

    def _model_instances(self, name: str, params: list[Any], path: str, bound: Bound) -> ast.Expr:
        args = self._nodes(params, f"{path}.params", bound)
        if args == (ast.Literal(EVENT_MODEL, ast.LiteralKind.STRING),):
            return ast.XEvent()
        return ast.FunctionCall(name, args)

    def _context(self, name: str, params: list[Any], path: str, bound: Bound) -> ast.Expr:
        self._count(params, path, "1 parameter (the schema id)", len(params) == 1)
        schema_id = self._string_literal(params[0], f"{path}.params[0]")
        if "}" in schema_id:
            raise self._error(f"{path}.params[0]", "a context schema id cannot contain `}`")
        return ast.ContextRef(schema_id)

    def _misplaced(self, name: str, params: list[Any], path: str, bound: Bound) -> ast.Expr:
        where = "the object of a fieldLookup" if name == "up" else "an occurs anchor"
        raise self._error(path, f"`{name}` is only valid as {where}")

    # --- time ----------------------------------------------------------------------------------

    def _occurs(self, name: str, params: list[Any], path: str, bound: Bound) -> ast.Expr:
        self._count(params, path, "a target and an occurs form", len(params) >= 3)
        target = self.node(params[0], f"{path}.params[0]", bound)
        return self._occurs_tail(target, params, path, bound)

    def _occurs_tail(
        self, target: ast.Expr, params: list[Any], path: str, bound: Bound
    ) -> ast.Occurs:
        at = f"{path}.params"
        word = self._string_literal(params[1], f"{at}[1]")
        last = self._anchor(params[-1], f"{at}[{len(params) - 1}]", bound)
        if word in COMPARATORS and len(params) == 6:
            amount = self._integer_literal(params[2], f"{at}[2]")
            unit = self._unit(params[3], f"{at}[3]")
            direction = self._direction(params[4], f"{at}[4]")
            return ast.Occurs(target, "relative", last, word, amount, unit, direction)
        if word in DIRECTIONS and len(params) == 3:
            return ast.Occurs(target, "direction", last, direction=word)
        if word == "on" and len(params) == 3:
            return ast.Occurs(target, "on", last)
        if word == "between" and len(params) == 4:
            first = self._anchor(params[2], f"{at}[2]", bound)
            return ast.Occurs(target, "between", first, anchor2=last)
        raise self._error(
            at,
            "expected [target, comparator, amount, unit, direction, anchor], "
            '[target, direction, anchor], [target, "on", anchor] or '
            '[target, "between", anchor, anchor]',
        )

    def _unit(self, doc: Any, path: str) -> ast.TimeUnit:
        word = self._string_literal(doc, path)
        unit = UNITS.get(word.lower())
        if unit is None:
            raise self._error(path, f"unknown time unit `{word}`")
        return unit

    def _direction(self, doc: Any, path: str) -> str:
        word = self._string_literal(doc, path)
        if word not in DIRECTIONS:
            raise self._error(path, "expected `before`, `after` or `from`")
        return word

    def _anchor(self, doc: Any, path: str, bound: Bound) -> ast.Expr:
        if _is_plain_apply(doc, TIME_WORDS):
            params = self._list(doc, "params", path)
            self._count(params, path, "no parameters", not params)
            return ast.TimeRef(doc["fnName"])
        if _is_plain_apply(doc, PERIOD_WORDS):
            params = self._list(doc, "params", path)
            self._count(params, path, "1 parameter (a time unit)", len(params) == 1)
            return ast.TimeRef(doc["fnName"], self._unit(params[0], f"{path}.params[0]"))
        return self.node(doc, path, bound)

    # --- binding constructs --------------------------------------------------------------------

    def _bindings(
        self, docs: list[Any], path: str, bound: Bound
    ) -> tuple[tuple[ast.Binding, ...], Bound]:
        if not docs:
            raise self._error(path, "expected at least one varDecl")
        bindings = []
        for index, doc in enumerate(docs):
            at = f"{path}[{index}]"
            if not _is_declaration(doc):
                raise self._error(at, f"expected a varDecl node, found {_describe(doc)}")
            name = self._identifier(
                self._string(doc, "varName", at), f"{at}.varName", "variable name"
            )
            key = "from" if "from" in doc or "range" not in doc else "range"
            source = self.node(self._field(doc, key, at), f"{at}.{key}", bound)
            bound = bound | {name}
            condition = doc.get("where")
            if condition is not None:
                condition = self.node(condition, f"{at}.where", bound)
            bindings.append(ast.Binding(name, source, condition))
        return tuple(bindings), bound

    def _select(self, name: str, params: list[Any], path: str, bound: Bound) -> ast.Expr:
        return ast.Select(self._bindings(params, f"{path}.params", bound)[0])

    def _quantification(self, doc: dict[str, Any], path: str, bound: Bound) -> ast.Expr:
        quantifier = self._string(doc, "quantifier", path).lower()
        if quantifier not in QUANTIFIERS:
            raise self._error(f"{path}.quantifier", "expected `exists`, `some` or `forall`")
        variables = self._list(doc, "variables", path)
        return ast.Quantified(quantifier, self._bindings(variables, f"{path}.variables", bound)[0])

    def _aggregate(self, name: str, params: list[Any], path: str, bound: Bound) -> ast.Expr:
        function = name.removesuffix(AGGREGATE_SUFFIX)
        short = bool(params) and _is_declaration(params[0])
        if short:
            self._count(params, path, "1 varDecl (or a value and varDecls)", len(params) == 1)
            bindings, _ = self._bindings(params, f"{path}.params", bound)
            return ast.Aggregate(function, None, bindings)
        self._count(params, path, "a value and at least one varDecl", len(params) >= 2)
        bindings, inner = self._bindings(params[1:], f"{path}.params[1:]", bound)
        value = self.node(params[0], f"{path}.params[0]", inner)
        return ast.Aggregate(function, value, bindings)

    # --- chain ---------------------------------------------------------------------------------

    def _chain(self, name: str, params: list[Any], path: str, bound: Bound) -> ast.Expr:
        expected = "events, a timestamp field name and at least one chainStep"
        self._count(params, path, expected, len(params) >= 3)
        events = self.node(params[0], f"{path}.params[0]", bound)
        timestamp = self._string_literal(params[1], f"{path}.params[1]")
        self._word(timestamp, f"{path}.params[1]", "timestamp field name")
        steps = []
        for index in range(2, len(params)):
            step = self._step(params[index], f"{path}.params[{index}]", timestamp, bound)
            bound = bound | {step.label}
            steps.append(step)
        return ast.Chain(events, timestamp, tuple(steps))

    def _step(self, doc: Any, path: str, timestamp: str, bound: Bound) -> ast.ChainStep:
        if not _is_plain_apply(doc, ("chainStep",)):
            raise self._error(path, "expected an fnApply chainStep")
        params = self._list(doc, "params", path)
        self._count(params, path, "a label and a `what` clause", len(params) >= 2)
        label = self._string_literal(params[0], f"{path}.params[0]")
        self._identifier(label, f"{path}.params[0]", "step label")
        bound = bound | {label}
        clauses: dict[str, Any] = {}
        for index in range(1, len(params)):
            at = f"{path}.params[{index}]"
            clause = params[index]
            if not _is_plain_apply(clause, ("what", "when", "where", "count")) or (
                (index == 1) != (clause["fnName"] == "what")
            ):
                raise self._error(at, "expected `what` first, then `when`, `where` or `count`")
            if clause["fnName"] in clauses:
                raise self._error(at, f"duplicate `{clause['fnName']}` clause")
            arguments = self._list(clause, "params", at)
            self._count(arguments, at, "1 parameter", len(arguments) == 1)
            clauses[clause["fnName"]] = self._clause(
                clause["fnName"], arguments[0], f"{at}.params[0]", timestamp, bound
            )
        return ast.ChainStep(label, **clauses)

    def _clause(self, name: str, doc: Any, path: str, timestamp: str, bound: Bound) -> Any:
        if name == "count":
            return self._integer_literal(doc, path)
        if name != "when":
            return self.node(doc, path, bound)
        if not _is_plain_apply(doc, ("occurs",)):
            raise self._error(path, "expected an fnApply occurs")
        params = self._list(doc, "params", path)
        self._count(params, path, "the timestamp and an occurs form", len(params) >= 3)
        target = params[0]
        if (
            not isinstance(target, dict)
            or target.get("nodeType") != "fieldLookup"
            or (target.get("fieldName") != timestamp)
        ):
            raise self._error(f"{path}.params[0]", f"expected a fieldLookup of `{timestamp}`")
        return self._occurs_tail(ast.Name(timestamp), params, path, bound)

    def _legacy_set(self, doc: dict[str, Any], path: str, bound: Bound) -> ast.Expr:
        raise self._error(path, "the legacy `set` node has no pql/text form")

    def _declaration(self, doc: dict[str, Any], path: str, bound: Bound) -> ast.Expr:
        raise self._error(path, "a varDecl is only valid in select, quantification or *Over")

    _NODE_RULES: ClassVar[dict[str, Callable[[_Decoder, dict[str, Any], str, Bound], ast.Expr]]] = {
        "literal": _literal,
        "fieldLookup": _field_lookup,
        "parameterReference": _parameter,
        "varRef": _var_ref,
        "varDecl": _declaration,
        "quantification": _quantification,
        "fnCreate": _lambda,
        "lambda": _lambda,
        "fnApply": _let,
        "set": _legacy_set,
    }
    _LITERAL_VALUES: ClassVar[dict[ast.LiteralKind, Callable[[_Decoder, Any, str], Any]]] = {
        ast.LiteralKind.STRING: _string_value,
        ast.LiteralKind.INTEGER: _integer_value,
        ast.LiteralKind.DOUBLE: _double_value,
        ast.LiteralKind.BOOLEAN: _boolean_value,
        ast.LiteralKind.DATE: _date_value,
        ast.LiteralKind.DATETIME: _datetime_value,
    }
    _CONSTRUCT_RULES: ClassVar[dict[str, Rule]] = {
        **dict.fromkeys(LOGICAL, _logical),
        **dict.fromkeys((*BINARY_OPERATORS, "not"), _operator),
        "list": _list_literal,
        "object": _object_literal,
        "filter": _filter,
        "occurs": _occurs,
        "select": _select,
        **dict.fromkeys((name + AGGREGATE_SUFFIX for name in AGGREGATES), _aggregate),
        "chain": _chain,
        "modelInstances": _model_instances,
        "contextData": _context,
        **dict.fromkeys(("up", *TIME_WORDS, *PERIOD_WORDS), _misplaced),
    }


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = json.dumps(value) if isinstance(value, str | int | float | bool | None) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
