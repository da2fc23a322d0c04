"""Chains of thousands of `and`/`or` terms (zip-code lists): every engine path flattens them with
a loop, the interpreter short-circuits through them, and the SQL is a balanced AND/OR tree, so
sqlglot's generator and DuckDB's parser see depth log2 n. No RecursionError, whatever the length.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from engine_runs import qualified_by_segment, run
from engine_testkit import NOW, Lake, Row, interpreted_members, pql, write_lake
from sqlglot import exp

from segmint.engine import check_supported, compile_expression, evaluate, plan_segments
from segmint.engine.interpreter.evaluator import Interpreter
from segmint.engine.runners.duckdb import read_parquet
from segmint.engine.sql.compiler import aliased, balanced
from segmint.pql.ast import Binary, Expr
from segmint.pql.types import BOOLEAN
from segmint.xdm import PROFILE_ID_COLUMN

N = 5000
HALF = N // 2


def postal_chain(op: str, start: int = 0, stop: int = N) -> str:
    """``postalCode = "00000" or …`` / ``postalCode != "00000" and …`` over codes [start, stop)."""
    test = "=" if op == "or" else "!="
    return f" {op} ".join(f'homeAddress.postalCode {test} "{i:05d}"' for i in range(start, stop))


def city_chain(start: int, stop: int) -> str:
    return " or ".join(f'homeAddress.city = "City{i}"' for i in range(start, stop))


def event_chain(stop: int = N) -> str:
    types = " or ".join(f'X.eventType = "type{i}"' for i in range(stop))
    return f"select X from xEvent where {types}"


# `or` of `=`: in the list. `and` of `!=`: present and not in the list (null → false).
OR_TEXT = postal_chain("or")
AND_TEXT = postal_chain("and")
# (a or b or …) and (c or d or …): in the first half of the codes and in the first cities.
MIXED_AND_TEXT = f"({postal_chain('or', 0, HALF)}) and ({city_chain(0, HALF)})"
# (a and b and …) or (c or d or …): the inner `or` chain joins the outer one.
MIXED_OR_TEXT = f"({postal_chain('and', 0, HALF)}) or ({city_chain(0, HALF)})"
EVENT_TEXT = event_chain()


@pytest.fixture(scope="module")
def chains() -> dict[str, Expr]:
    texts = {
        "or": OR_TEXT,
        "and": AND_TEXT,
        "mixed-and": MIXED_AND_TEXT,
        "mixed-or": MIXED_OR_TEXT,
        "events": EVENT_TEXT,
    }
    return {name: pql(text) for name, text in texts.items()}


def right_nested(op: str, leaves: Sequence[Expr]) -> Expr:
    """``a op (b op (c op …))``, built in a loop (the parser and checker build left spines)."""
    tree = leaves[-1]
    for leaf in reversed(leaves[:-1]):
        tree = Binary(op=op, left=leaf, right=tree, type=BOOLEAN)
    return tree


def connector_depth(tree: exp.Expr) -> int:
    """The most AND/OR nodes on one root-to-leaf path, counted without recursion."""
    deepest = 0
    pending: list[tuple[exp.Expr, int]] = [(tree, 0)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, exp.Connector):
            depth += 1
            deepest = max(deepest, depth)
        pending += [(child, depth) for child in node.iter_expressions()]
    return deepest


def postal_codes(sql: str) -> list[str]:
    return re.findall(r"'(\d{5})'", sql)


class TestCompiler:
    @pytest.mark.parametrize("name", ["or", "and", "mixed-and", "mixed-or", "events"])
    def test_check_supported_accepts_long_chains(
        self, chains: Mapping[str, Expr], name: str
    ) -> None:
        check_supported(chains[name])

    @pytest.mark.parametrize("name", ["or", "and"])
    def test_compile_expression_emits_a_balanced_tree(
        self, chains: Mapping[str, Expr], name: str
    ) -> None:
        tree = compile_expression(chains[name], NOW)
        connector = exp.Or if name == "or" else exp.And
        assert isinstance(tree, connector)
        assert len(list(tree.find_all(exp.Connector))) == N - 1
        assert connector_depth(tree) == math.ceil(math.log2(N))
        sql = tree.sql(dialect="duckdb")
        assert postal_codes(sql) == [f"{i:05d}" for i in range(N)]  # operand order is kept

    def test_mixed_nesting_balances_each_chain(self, chains: Mapping[str, Expr]) -> None:
        tree = compile_expression(chains["mixed-and"], NOW)
        assert isinstance(tree, exp.And)
        assert connector_depth(tree) == 1 + math.ceil(math.log2(HALF))
        mixed_or = compile_expression(chains["mixed-or"], NOW)
        # One `or` chain of HALF + 1 operands, one of them a HALF-term `and` chain.
        assert connector_depth(mixed_or) <= math.ceil(math.log2(HALF + 1)) + math.ceil(
            math.log2(HALF)
        )

    @pytest.mark.parametrize("op", ["or", "and"])
    def test_right_nested_chains_are_flattened(self, op: str) -> None:
        leaves = [pql(f'homeAddress.postalCode = "{i:05d}"') for i in range(N)]
        tree = compile_expression(right_nested(op, leaves), NOW)
        assert connector_depth(tree) == math.ceil(math.log2(N))
        assert postal_codes(tree.sql(dialect="duckdb")) == [f"{i:05d}" for i in range(N)]

    def test_short_chains_keep_their_sql(self) -> None:
        a, b, c = (f'COALESCE("p"."homeAddress"."city" = \'{x}\', FALSE)' for x in "abc")
        two = compile_expression(pql('homeAddress.city = "a" or homeAddress.city = "b"'), NOW)
        assert two.sql(dialect="duckdb") == f"{a} OR {b}"
        three = pql('homeAddress.city = "a" and homeAddress.city = "b" and homeAddress.city = "c"')
        assert compile_expression(three, NOW).sql(dialect="duckdb") == f"({a} AND {b}) AND {c}"

    def test_balanced_pairs_neighbours(self) -> None:
        terms = [exp.column(f"t{i}") for i in range(5)]
        assert balanced(exp.Or, terms).sql() == "((t0 OR t1) OR (t2 OR t3)) OR t4"
        assert balanced(exp.And, terms[:1]).sql() == "t0"
        with pytest.raises(ValueError):
            balanced(exp.And, [])

    @pytest.mark.parametrize("name", ["or", "and"])  # all five: TestDuckDB's run_membership
    def test_plan_segments_generates_sql(self, chains: Mapping[str, Expr], name: str) -> None:
        sql = plan_segments([(name, chains[name])], NOW).sql(dialect="duckdb")
        assert sql.startswith(("SELECT", "WITH"))

    def test_event_prefilter_over_many_conditions_is_balanced(self) -> None:
        count = 1200
        segments = [
            (f"s{i}", pql(f'select X from xEvent where X.eventType = "type{i}"'))
            for i in range(count)
        ]
        plan = plan_segments(segments, NOW)
        aggregate = plan.find(exp.CTE)
        assert aggregate is not None
        where = aggregate.this.args["where"].this
        assert len(list(where.find_all(exp.EQ))) == count
        assert connector_depth(where) == math.ceil(math.log2(count))
        assert f"type{count - 1}" in plan.sql(dialect="duckdb")


class TestInterpreter:
    PROFILES: Mapping[str, Row] = {
        "first": {"homeAddress": {"postalCode": "00000", "city": "City0"}},
        "last": {"homeAddress": {"postalCode": f"{N - 1:05d}", "city": "Elsewhere"}},
        "outside": {"homeAddress": {"postalCode": "99999"}},
        "null": {"homeAddress": {"postalCode": None}},
        "absent": {},
    }

    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("or", {"first", "last"}),
            ("and", {"outside"}),
            ("mixed-and", {"first"}),
            ("mixed-or", {"first", "last", "outside"}),
        ],
    )
    def test_long_chains(self, chains: Mapping[str, Expr], name: str, expected: set[str]) -> None:
        members = {
            profile_id
            for profile_id, profile in self.PROFILES.items()
            if evaluate(chains[name], profile, [], NOW)
        }
        assert members == expected

    @pytest.mark.parametrize("op", ["or", "and"])
    def test_right_nested_chains(self, op: str) -> None:
        test = "=" if op == "or" else "!="
        leaves = [pql(f'homeAddress.postalCode {test} "{i:05d}"') for i in range(N)]
        tree = right_nested(op, leaves)
        assert evaluate(tree, self.PROFILES["last"], [], NOW) == (op == "or")
        assert evaluate(tree, self.PROFILES["outside"], [], NOW) == (op == "and")
        assert not evaluate(tree, self.PROFILES["null"], [], NOW)

    @pytest.mark.parametrize(("name", "decisive"), [("or", "first"), ("and", "first")])
    def test_chains_short_circuit(
        self, chains: Mapping[str, Expr], name: str, decisive: str
    ) -> None:
        # "first" matches the first `=` (or) and fails the first `!=` (and): one operand decides.
        tested: list[Expr] = []

        class Counting(Interpreter):
            def test(self, node: Expr) -> bool:
                tested.append(node)
                return super().test(node)

        result = Counting(self.PROFILES[decisive], [], NOW).test(chains[name])
        assert result == (name == "or")
        assert len(tested) == 2  # the chain, then its first operand

    @pytest.mark.parametrize("op", ["or", "and"])
    def test_operands_are_coerced_and_null_is_false(self, op: str) -> None:
        # Values, not predicates: a present string is true, a null or absent one false.
        chain = pql(f" {op} ".join(["homeAddress.city", "homeAddress.postalCode"] * HALF))
        both: Row = {"homeAddress": {"city": "Paris", "postalCode": "75001"}}
        one: Row = {"homeAddress": {"city": "Paris", "postalCode": None}}
        assert evaluate(chain, both, [], NOW)
        assert evaluate(chain, one, [], NOW) == (op == "or")
        assert not evaluate(chain, {"homeAddress": None}, [], NOW)

    def test_event_conditions(self, chains: Mapping[str, Expr]) -> None:
        events = [{"eventType": "other"}, {"eventType": f"type{N - 1}"}]
        assert evaluate(chains["events"], {}, events, NOW)
        assert not evaluate(chains["events"], {}, events[:1], NOW)


def profile(profile_id: str, postal_code: str | None, city: str | None) -> Row:
    if postal_code is None and city is None:
        return {PROFILE_ID_COLUMN: profile_id, "homeAddress": None}
    return {PROFILE_ID_COLUMN: profile_id, "homeAddress": {"postalCode": postal_code, "city": city}}


def event(profile_id: str, event_type: str) -> Row:
    return {
        PROFILE_ID_COLUMN: profile_id,
        "timestamp": datetime(2025, 6, 1),
        "eventType": event_type,
    }


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    profiles = [
        profile("first", "00000", "City0"),
        profile("last", f"{N - 1:05d}", "Elsewhere"),
        profile("middle", f"{HALF:05d}", f"City{HALF - 1}"),
        profile("outside", "99999", None),
        profile("city-only", None, "City2"),
        profile("absent", None, None),
    ]
    events = [
        event("first", f"type{N - 1}"),
        event("outside", "other"),
        event("absent", "type0"),
    ]
    return write_lake(tmp_path_factory.mktemp("lake"), profiles, events)


class TestDuckDB:
    def test_run_membership_agrees_with_the_interpreter(
        self, lake: Lake, chains: Mapping[str, Expr], tmp_path: Path
    ) -> None:
        segments = list(chains.items())
        _, rows = run(lake, segments, tmp_path / "out")
        members = qualified_by_segment(rows)
        expected = {
            "or": {"first", "last", "middle"},
            "and": {"outside"},
            "mixed-and": {"first"},
            "mixed-or": {"first", "last", "middle", "outside", "city-only"},
            "events": {"first", "absent"},
        }
        for name, expr in segments:
            assert interpreted_members(lake, expr) == expected[name], name
            assert members.get(name, set()) == expected[name], name

    @pytest.mark.parametrize("name", ["mixed-or", "events"])
    def test_compile_expression_runs_in_duckdb(
        self, lake: Lake, chains: Mapping[str, Expr], name: str
    ) -> None:
        # The predicate as a column, not a WHERE clause: DuckDB's filter optimizer is quadratic
        # in the number of COALESCE conjuncts (5000 take minutes and gigabytes), a cost of the
        # WHERE form and not of the tree's shape.
        predicate = compile_expression(chains[name], NOW, events=read_parquet(lake.event_files))
        query = exp.select(
            exp.column(PROFILE_ID_COLUMN, table="p", quoted=True), exp.alias_(predicate, "member")
        ).from_(aliased(read_parquet(lake.profile_files), "p"))
        with duckdb.connect() as connection:
            rows = connection.execute(query.sql(dialect="duckdb")).fetchall()
        assert {profile_id for profile_id, member in rows if member} == interpreted_members(
            lake, chains[name]
        )
