"""The PQL type checker: resolves names against a ``Schema`` and types every node.

``check`` returns a resolved copy of a parsed tree and coerces literals to field types
(pql.md §1.7). The resolved tree:

* a bare name is a ``VarRef`` (a lexical variable), else a ``FieldLookup`` on
  ``ImplicitScope(0)`` (the innermost implicit object), else, in a chain step's ``WHERE`` only,
  a ``FieldLookup`` on the profile; ``^…name`` is a ``FieldLookup`` on ``ImplicitScope(levels)``
  and ``$1`` the ``ImplicitScope`` of the profile. Bracket filters, item-relative method
  arguments and chain steps push an implicit scope (pql.md §4.3-4.5, §12.0);
* a field looked up on an array maps over the items and flattens one level: its type is an
  ``ArrayType(…, projected=True)``, and predicates over it are existential (§4.2);
* methods stay ``MethodCall``, functions ``FunctionCall`` (``date(…)`` of literals folds into a
  ``DATE`` literal), a chain step's ``WHEN`` is an ``Occurs`` on the event's timestamp field.

Only decisioning constructs (``@{…}`` context data, the ``offer`` root) raise
``PQLUnsupportedError``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from segmint.pql import ast
from segmint.pql.check_base import (
    CheckerBase,
    Env,
    Rule,
    comparable,
    element,
    is_function,
    is_kind,
    ordered,
    suggest,
    type_of,
)
from segmint.pql.check_bindings import BindingRules
from segmint.pql.check_calls import CallRules
from segmint.pql.errors import PQLNameError, PQLTypeError, PQLUnsupportedError
from segmint.pql.printer import format as format_pql
from segmint.pql.types import (
    ANY,
    BOOLEAN,
    DATE,
    DATETIME,
    DOUBLE,
    INTEGER,
    STRING,
    TIME_REF,
    ArrayType,
    MapType,
    ObjectType,
    PQLType,
    ScalarKind,
    Schema,
    is_numeric,
    is_temporal,
)

LOGICAL = ("and", "or")
LITERAL_TYPES: dict[ast.LiteralKind, PQLType] = {
    ast.LiteralKind.STRING: STRING,
    ast.LiteralKind.INTEGER: INTEGER,
    ast.LiteralKind.DOUBLE: DOUBLE,
    ast.LiteralKind.BOOLEAN: BOOLEAN,
    ast.LiteralKind.DATE: DATE,
    ast.LiteralKind.DATETIME: DATETIME,
}
# The candidate offer of offer-decisioning rules (pql.md §7.15): not a profile field.
DECISIONING_ROOTS = frozenset({"offer"})


def check(expr: ast.Expr, schema: Schema, *, source: str = "") -> ast.Expr:
    """Resolve and type ``expr`` against ``schema``; ``source`` (the pql/text) improves errors.

    Raises ``PQLNameError``, ``PQLTypeError`` or ``PQLUnsupportedError`` located at the fault.
    """
    return _Checker(schema, source).check_root(expr)


def _fields(type_: PQLType | None) -> dict[str, PQLType]:
    """The fields a name can reach on ``type_``: an object's, or its items' for an array."""
    if isinstance(type_, ArrayType):
        type_ = type_.item
    return dict(type_.fields) if isinstance(type_, ObjectType) else {}


def _is_constant(node: ast.Expr) -> bool:
    if isinstance(node, ast.ListLiteral | ast.ObjectLiteral):
        return True
    return isinstance(node, ast.Literal) and node.kind is not ast.LiteralKind.BOOLEAN


class _Checker(CallRules, BindingRules, CheckerBase):
    def __init__(self, schema: Schema, source: str) -> None:
        super().__init__(schema, source)

    def check_root(self, expr: ast.Expr) -> ast.Expr:
        env = Env(scopes=(self._schema.profile,))
        if isinstance(expr, ast.Lambda):
            checked: ast.Expr = self.query_lambda(expr, env)
        else:
            checked = self.condition(expr, env)
        result = checked.body if isinstance(checked, ast.Lambda) else checked
        if _is_constant(result):
            raise self.fail(PQLTypeError, "a segment definition must be a condition", result)
        return checked

    # --- values --------------------------------------------------------------------------------

    def _literal(self, node: ast.Literal, env: Env) -> ast.Literal:
        return replace(node, type=LITERAL_TYPES[node.kind])

    def _list(self, node: ast.ListLiteral, env: Env) -> ast.ListLiteral:
        return self.typed_list(node, tuple(self.value(item, env) for item in node.items))

    def _object(self, node: ast.ObjectLiteral, env: Env) -> ast.ObjectLiteral:
        self.distinct_names([key for key, _ in node.entries], node, "object key")
        entries = tuple((key, self.value(value, env)) for key, value in node.entries)
        fields = {key: type_of(value) for key, value in entries}
        return replace(node, entries=entries, type=ObjectType("literal", fields))

    # --- names and references ------------------------------------------------------------------

    def _name(self, node: ast.Name, env: Env) -> ast.Expr:
        name = node.name
        if name in env.variables:
            return ast.VarRef(name, span=node.span, type=env.variables[name])
        depth = 0
        if name not in _fields(env.scope(0)):
            depth = env.profile_depth
            if not (env.profile_fallback and name in _fields(env.scope(depth))):
                raise self._unknown_name(node, env)
        scope = ast.ImplicitScope(depth, span=node.span, type=env.scope(depth))
        return self._lookup(ast.FieldLookup(scope, name, span=node.span))

    def _unknown_name(self, node: ast.Name, env: Env) -> Exception:
        name, scope = node.name, env.scope(0)
        if name in env.declared_later:
            message = (
                f"`{name}` is used before its declaration: "
                "a variable is visible only to the right of it"
            )
            return self.fail(PQLNameError, message, node)
        if name in DECISIONING_ROOTS:
            message = (
                f"`{name}` (the candidate offer) exists only in offer-decisioning rules, "
                "not in segment definitions"
            )
            return self.fail(PQLUnsupportedError, message, node)
        fields = _fields(scope)
        hint = suggest(name, [*env.variables, *fields]) or self._variable_hint(name, env)
        if not fields and not isinstance(scope, ObjectType):
            message = f"unknown name `{name}`: no variable has it and {scope} has no fields{hint}"
            return self.fail(PQLNameError, message, node)
        owner = scope.item if isinstance(scope, ArrayType) else scope
        owner_name = owner.name if isinstance(owner, ObjectType) else str(owner)
        return self.fail(PQLNameError, f"unknown field `{name}` in {owner_name}{hint}", node)

    def _variable_hint(self, name: str, env: Env) -> str:
        for variable, type_ in env.variables.items():
            if name in _fields(type_):
                return f"; did you mean `{variable}.{name}`?"
        return ""

    def _var_ref(self, node: ast.VarRef, env: Env) -> ast.VarRef:
        if node.name not in env.variables:
            raise self.fail(PQLNameError, f"unknown variable `{node.name}`", node)
        return replace(node, type=env.variables[node.name])

    def _param(self, node: ast.ParamRef, env: Env) -> ast.Expr:
        if node.position != 1:
            message = f"`${node.position}` is not defined: a segment has one input, `$1`"
            raise self.fail(PQLNameError, message, node)
        depth = env.profile_depth
        return ast.ImplicitScope(depth, span=node.span, type=env.scope(depth))

    def _scope(self, node: ast.ImplicitScope, env: Env) -> ast.ImplicitScope:
        scope = env.scope(node.depth)
        if scope is None:
            message = f"there is no implicit scope {node.depth} levels up here"
            raise self.fail(PQLNameError, message, node)
        return replace(node, type=scope)

    def _up_ref(self, node: ast.UpRef, env: Env) -> ast.Expr:
        carets = "^" * node.levels
        scope = env.scope(node.levels)
        if scope is None:
            depth = env.profile_depth
            message = (
                f"`{carets}` reaches past the profile: "
                f"{depth} enclosing scope{'' if depth == 1 else 's'} here"
            )
            raise self.fail(PQLNameError, message, node)
        target = ast.ImplicitScope(node.levels, span=node.span, type=scope)
        return self._lookup(ast.FieldLookup(target, node.name, span=node.span))

    def _xevent(self, node: ast.XEvent, env: Env) -> ast.XEvent:
        return replace(node, type=ArrayType(self._schema.event))

    def _context(self, node: ast.ContextRef, env: Env) -> ast.Expr:
        message = (
            "context data `@{…}` exists only in offer-decisioning rules, not in segment definitions"
        )
        raise self.fail(PQLUnsupportedError, message, node)

    # --- paths and filters (§4.2-4.4) ----------------------------------------------------------

    def _field(self, node: ast.FieldLookup, env: Env) -> ast.Expr:
        return self._lookup(replace(node, target=self.value(node.target, env)))

    def _lookup(self, node: ast.FieldLookup) -> ast.FieldLookup:
        """``node`` (its target checked) typed; through an array, projected and flattened."""
        owner = type_of(node.target)
        if owner == ANY:
            return replace(node, type=ANY)
        if isinstance(owner, ObjectType):
            return replace(node, type=self._field_type(node, owner))
        if isinstance(owner, ArrayType) and isinstance(owner.item, ObjectType):
            found = self._field_type(node, owner.item)
            item = found.item if isinstance(found, ArrayType) else found
            return replace(node, type=ArrayType(item, projected=True))
        name = node.field_name
        hint = f'; use `.get("{name}")`' if isinstance(owner, MapType) else ""
        message = f"cannot read field `{name}` of a {owner}{hint}"
        raise self.fail(PQLTypeError, message, self.field_span(node))

    def _field_type(self, node: ast.FieldLookup, owner: ObjectType) -> PQLType:
        found = owner.fields.get(node.field_name)
        if found is None:
            name = node.field_name
            message = f"unknown field `{name}` in {owner.name}{suggest(name, list(owner.fields))}"
            raise self.fail(PQLNameError, message, self.field_span(node))
        return found

    def _filter(self, node: ast.Filter, env: Env) -> ast.Filter:
        target = self.value(node.target, env)
        array = type_of(target)
        if not isinstance(array, ArrayType):
            message = f"`[…]` filters an array; got {array}"
            raise self.fail(PQLTypeError, message, node)
        condition = self.condition(node.condition, env.push(array.item))
        return replace(node, target=target, condition=condition, type=array)

    # --- operators -----------------------------------------------------------------------------

    def _unary(self, node: ast.Unary, env: Env) -> ast.Unary:
        if node.op == "not":
            return replace(node, operand=self.condition(node.operand, env), type=BOOLEAN)
        operand = self.value(node.operand, env)
        if not is_numeric(type_of(operand)):
            message = f"unary `-` needs a number; got {type_of(operand)}"
            raise self.fail(PQLTypeError, message, node)
        return replace(node, operand=operand, type=type_of(operand))

    def _binary(self, node: ast.Binary, env: Env) -> ast.Expr:
        return self._BINARY_RULES[node.op](self, node, env)

    def _logical(self, node: ast.Binary, env: Env) -> ast.Binary:
        # A loop down the left spine, not recursion: long `or` chains are common.
        spine = [node]
        while isinstance(spine[-1].left, ast.Binary) and spine[-1].left.op in LOGICAL:
            spine.append(spine[-1].left)
        checked = self.condition(spine[-1].left, env)
        for part in reversed(spine):
            right = self.condition(part.right, env)
            checked = replace(part, left=checked, right=right, type=BOOLEAN)
        assert isinstance(checked, ast.Binary)
        return checked

    def _equality(self, node: ast.Binary, env: Env) -> ast.Binary:
        left, right = self._operands(node, env)
        if not comparable(element(type_of(left)), element(type_of(right))):
            message = f"cannot compare {left.type} with {right.type} using `{node.op}`"
            raise self.fail(PQLTypeError, message, node)
        return replace(node, left=left, right=right, type=BOOLEAN)

    def _ordering(self, node: ast.Binary, env: Env) -> ast.Binary:
        left, right = self._operands(node, env)
        if not ordered(element(type_of(left)), element(type_of(right))):
            message = (
                f"`{node.op}` needs two numbers, two strings or two dates; "
                f"got {left.type} and {right.type}"
            )
            raise self.fail(PQLTypeError, message, node)
        return replace(node, left=left, right=right, type=BOOLEAN)

    def _operands(self, node: ast.Binary, env: Env) -> tuple[ast.Expr, ast.Expr]:
        """Both operands; a literal meeting a typed value takes its type (§1.7)."""
        left = self.value(node.left, env)
        right = self._against(node.right, left, env)
        if not isinstance(right, ast.Literal | ast.ListLiteral):
            left = self.coerce(left, element(type_of(right)))
        return left, right

    def _against(self, node: ast.Expr, other: ast.Expr, env: Env) -> ast.Expr:
        """``node`` checked where it meets the values of ``other`` (already checked)."""
        if isinstance(other, ast.Literal | ast.ListLiteral):
            return self.value(node, env)
        target = element(type_of(other))
        if isinstance(node, ast.ListLiteral) and isinstance(target, ArrayType):
            return self.list_against(node, target.item, env)
        return self.coerce(self.value(node, env), target)

    def _arithmetic(self, node: ast.Binary, env: Env) -> ast.Binary:
        left = self.value(node.left, env)
        right = self.value(node.right, env)
        left_type, right_type = type_of(left), type_of(right)
        if not (is_numeric(left_type) and is_numeric(right_type)):
            message = f"`{node.op}` needs two numbers; got {left_type} and {right_type}"
            raise self.fail(PQLTypeError, message, node)
        both_integers = left_type == INTEGER and right_type == INTEGER
        result = INTEGER if both_integers and node.op != "/" else DOUBLE
        return replace(node, left=left, right=right, type=result)

    def _text_match(self, node: ast.Binary, env: Env) -> ast.Binary:
        """``like`` and infix ``matches``: a string (or projected strings) and a pattern."""
        left = self.value(node.left, env)
        right = self.value(node.right, env)
        text, pattern = element(type_of(left)), type_of(right)
        if not (is_kind(text, ScalarKind.STRING) and is_kind(pattern, ScalarKind.STRING)):
            message = f"`{node.op}` needs two strings; got {left.type} and {right.type}"
            raise self.fail(PQLTypeError, message, node)
        return replace(node, left=left, right=right, type=BOOLEAN)

    def _membership(self, node: ast.Binary, env: Env) -> ast.Binary:
        left = self.value(node.left, env)
        single = element(type_of(left))
        if isinstance(single, ArrayType | ObjectType | MapType) or is_function(single):
            message = f"the left side of `{node.op}` must be a single value; got {left.type}"
            raise self.fail(PQLTypeError, message, left)
        right = node.right
        if isinstance(right, ast.ListLiteral) and not isinstance(left, ast.Literal):
            right = self.list_against(right, single, env)
        else:
            right = self.value(right, env)
        right_type = type_of(right)
        if not isinstance(right_type, ArrayType):
            message = f"the right side of `{node.op}` must be a list or an array; got {right_type}"
            raise self.fail(PQLTypeError, message, right)
        left = self.coerce(left, right_type.item)
        if not comparable(element(type_of(left)), right_type.item):
            message = f"cannot look for {left.type} in {right_type}"
            raise self.fail(PQLTypeError, message, node)
        return replace(node, left=left, right=right, type=BOOLEAN)

    # --- time (§6) -----------------------------------------------------------------------------

    def _occurs(self, node: ast.Occurs, env: Env) -> ast.Occurs:
        target = self.value(node.target, env)
        if not is_temporal(element(type_of(target))):
            message = f"`occurs` needs a date or date-time; got {target.type}"
            raise self.fail(PQLTypeError, message, target)
        anchor = self._anchor(node.anchor, env)
        anchor2 = None if node.anchor2 is None else self._anchor(node.anchor2, env)
        # `from` and `after` mean the same (pql.md §6.3); engines only see `after`.
        direction = "after" if node.direction == "from" else node.direction
        return replace(
            node, target=target, anchor=anchor, anchor2=anchor2, direction=direction, type=BOOLEAN
        )

    def _anchor(self, node: ast.Expr, env: Env) -> ast.Expr:
        """An ``occurs`` reference: a time word, ``date(…)`` or a date/date-time value."""
        if isinstance(node, ast.TimeRef):
            return replace(node, type=TIME_REF)
        checked = self.value(node, env)
        if not is_temporal(type_of(checked)):
            message = (
                f"`occurs` is relative to a time word, `date(…)` or one date or date-time; "
                f"`{format_pql(node)}` is a {checked.type}"
            )
            raise self.fail(PQLTypeError, message, node)
        return checked

    def _misplaced_time_ref(self, node: ast.TimeRef, env: Env) -> ast.Expr:
        message = f"`{format_pql(node)}` can only be used after `occurs`"
        raise self.fail(PQLTypeError, message, node)

    _VALUE_RULES: ClassVar[dict[type, Rule]] = {
        ast.Literal: _literal,
        ast.ListLiteral: _list,
        ast.ObjectLiteral: _object,
        ast.Name: _name,
        ast.VarRef: _var_ref,
        ast.ParamRef: _param,
        ast.ImplicitScope: _scope,
        ast.UpRef: _up_ref,
        ast.XEvent: _xevent,
        ast.ContextRef: _context,
        ast.FieldLookup: _field,
        ast.Filter: _filter,
        ast.Unary: _unary,
        ast.Binary: _binary,
        ast.MethodCall: CallRules.method,
        ast.FunctionCall: CallRules.function,
        ast.TimeRef: _misplaced_time_ref,
        ast.Occurs: _occurs,
        ast.Select: BindingRules.select,
        ast.Quantified: BindingRules.quantified,
        ast.Aggregate: BindingRules.legacy_aggregate,
        ast.Let: BindingRules.let,
        ast.Lambda: BindingRules.misplaced_lambda,
        ast.Chain: BindingRules.chain,
    }
    _BINARY_RULES: ClassVar[dict[str, Rule]] = {
        **dict.fromkeys(LOGICAL, _logical),
        **dict.fromkeys(("=", "!="), _equality),
        **dict.fromkeys(("<", "<=", ">", ">="), _ordering),
        **dict.fromkeys(("+", "-", "*", "/", "%"), _arithmetic),
        **dict.fromkeys(("in", "notIn"), _membership),
        **dict.fromkeys(("like", "matches"), _text_match),
    }
