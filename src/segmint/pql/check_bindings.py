"""Checker rules for the constructs that bind variables (pql.md §4.5, §7.6, §7.10-7.13, §9):
``select``, ``exists``/``forall``/``some``, legacy ``sum … over …``, ``let``, lambdas and
``chain``."""

from __future__ import annotations

from dataclasses import replace

from segmint.pql import ast
from segmint.pql.check_base import CheckerBase, Env, type_of
from segmint.pql.errors import PQLNameError, PQLTypeError, PQLUnsupportedError
from segmint.pql.types import (
    BOOLEAN,
    ArrayType,
    FunctionType,
    ObjectType,
    PQLType,
    TupleType,
    is_temporal,
)


class BindingRules(CheckerBase):
    """Variables are visible only to the right of their declaration: in their own condition,
    in later bindings of the same construct, and in what those contain."""

    def bindings(
        self, bindings: tuple[ast.Binding, ...], env: Env, owner: ast.Node
    ) -> tuple[tuple[ast.Binding, ...], Env]:
        """The checked bindings and the environment with all their variables bound."""
        names = [binding.var for binding in bindings]
        self.distinct_names(names, owner, "variable")
        checked: list[ast.Binding] = []
        outer_later = env.declared_later
        for index, binding in enumerate(bindings):
            here = env.later(names[index + 1 :])
            source = self.value(binding.source, here)
            source_type = type_of(source)
            if not isinstance(source_type, ArrayType):
                message = f"`{binding.var} from …` needs an array; got {source_type}"
                raise self.fail(PQLTypeError, message, source)
            env = here.bind(binding.var, source_type.item)
            condition = binding.condition
            if condition is not None:
                condition = self.condition(condition, env)
            checked.append(
                replace(binding, source=source, condition=condition, type=source_type.item)
            )
        return tuple(checked), replace(env, declared_later=outer_later)

    def select(self, node: ast.Select, env: Env) -> ast.Select:
        bindings, _ = self.bindings(node.bindings, env, node)
        return replace(node, bindings=bindings, type=ArrayType(_row_type(bindings)))

    def quantified(self, node: ast.Quantified, env: Env) -> ast.Quantified:
        bindings, _ = self.bindings(node.bindings, env, node)
        return replace(node, bindings=bindings, type=BOOLEAN)

    def legacy_aggregate(self, node: ast.Aggregate, env: Env) -> ast.Aggregate:
        """``AGG value over bindings`` (the value sees every variable) or ``AGG V from …``."""
        bindings, inner = self.bindings(node.bindings, env, node)
        if node.value is None:
            value_type = type_of(bindings[0])
            result = self.aggregate_type(node.function, value_type, bindings[0])
            return replace(node, bindings=bindings, type=result)
        value = self.value(node.value, inner)
        result = self.aggregate_type(node.function, type_of(value), value)
        return replace(node, value=value, bindings=bindings, type=result)

    def let(self, node: ast.Let, env: Env) -> ast.Let:
        value = self.value(node.value, env.later((node.name,)))
        body = self.value(node.body, env.bind(node.name, type_of(value)))
        return replace(node, value=value, body=body, type=type_of(body))

    def query_lambda(self, node: ast.Lambda, env: Env) -> ast.Lambda:
        """A whole-query lambda ``(Profile) => …``: its one parameter is the profile."""
        if len(node.params) != 1:
            message = (
                "a segment definition has one input, the profile: its lambda takes "
                f"one parameter, not {len(node.params)}"
            )
            raise self.fail(PQLNameError, message, node)
        profile = self._schema.profile
        body = self.condition(node.body, env.bind(node.params[0], profile))
        return replace(node, body=body, type=FunctionType.of((profile,), type_of(body)))

    def misplaced_lambda(self, node: ast.Lambda, env: Env) -> ast.Expr:
        message = "a lambda can only be the whole query or the argument of a method"
        raise self.fail(PQLTypeError, message, node)

    # --- chain (§9) ----------------------------------------------------------------------------

    def chain(self, node: ast.Chain, env: Env) -> ast.Chain:
        events = self.value(node.events, env)
        if not isinstance(events, ast.XEvent):
            message = "`chain` over anything but `xEvent` is not supported"
            raise self.fail(PQLUnsupportedError, message, node.events)
        event = self._schema.event
        self._chain_timestamp(node, event)
        labels = [step.label for step in node.steps]
        self.distinct_names(labels, node, "step label")
        step_env = env.push(event)
        steps: list[ast.ChainStep] = []
        for index, step in enumerate(node.steps):
            here = step_env.later(labels[index + 1 :]).bind(step.label, event)
            steps.append(self._step(step, node.timestamp_field, here))
            step_env = step_env.bind(step.label, event)
        return replace(node, events=events, steps=tuple(steps), type=BOOLEAN)

    def _chain_timestamp(self, node: ast.Chain, event: ObjectType) -> None:
        name = node.timestamp_field
        after = node.events.span.end if node.events.span else 0
        span = self.word_span(name, after, node.span)
        type_ = event.fields.get(name)
        if type_ is None:
            message = f"unknown field `{name}` in {event.name}: `chain` orders events by it"
            raise self.fail(PQLNameError, message, span)
        if not is_temporal(type_):
            message = f"`chain` orders events by a date-time field; `{name}` is a {type_}"
            raise self.fail(PQLTypeError, message, span)

    def _step(self, step: ast.ChainStep, timestamp: str, env: Env) -> ast.ChainStep:
        what = self.condition(step.what, env)
        when = None if step.when is None else self._when(step.when, timestamp, env)
        where = step.where
        if where is not None:
            where = self.condition(where, replace(env, profile_fallback=True))
        if step.count is not None and step.count < 1:
            message = f"`COUNT({step.count})` must count at least one event"
            raise self.fail(PQLTypeError, message, step)
        return replace(step, what=what, when=when, where=where, type=BOOLEAN)

    def _when(self, when: ast.Occurs, timestamp: str, env: Env) -> ast.Occurs:
        """``WHEN(tail)``: ``occurs`` applied to the chain's timestamp field of the event."""
        scope = ast.ImplicitScope(0, span=when.target.span)
        target = ast.FieldLookup(scope, timestamp, span=when.target.span)
        checked = self.value(replace(when, target=target), env)
        assert isinstance(checked, ast.Occurs)
        return checked


def _row_type(bindings: tuple[ast.Binding, ...]) -> PQLType:
    """The item type of a ``select``: the variable's type, or a tuple of all of them."""
    if len(bindings) == 1:
        return type_of(bindings[0])
    return TupleType("tuple", {binding.var: type_of(binding) for binding in bindings})
