"""Evaluation classes (pql.md §10): the examples of §10 and §14, time windows, inSegment targets,
negation, and parsed versus checked trees."""

from __future__ import annotations

import pytest

from segmint.pql import EvaluationClasses, ast, classify, evaluation_info, parse

CHECKOUT = 'WHAT(eventType.equals("commerce.checkouts", false))'
EMAIL = 'WHAT(eventType.equals("directMarketing.emailClicked", false))'
PROFILE_AUDIENCE = "e3be6d7f-1727-401f-a41e-c296b45f607a"
EVENT_AUDIENCE = "9e1646bb-57ff-4309-ba59-17d6c5bab6a1"


def profile_only(segment_id: str) -> bool:
    return segment_id == PROFILE_AUDIENCE


def classes(text: str) -> EvaluationClasses:
    return classify(parse(text), profile_only=profile_only)


def methods(text: str) -> tuple[bool, bool]:
    result = classes(text)
    assert result.batch
    assert bool(result.reasons) == (not result.edge)
    return result.streaming, result.edge


class TestSection10Examples:
    @pytest.mark.parametrize(
        ("text", "streaming", "edge"),
        [
            # §10.1 eligible shapes
            (f"CHAIN(xEvent, timestamp, [C0: {CHECKOUT} WHEN(today)])", True, True),
            ('homeAddress.country.equals("Canada", false)', True, True),
            (
                f'workAddress.country.equals("Canada", false) and '
                f"CHAIN(xEvent, timestamp, [C0: {CHECKOUT} WHEN(today)])",
                True,
                True,
            ),
            (
                f'workAddress.country.equals("US", false) and CHAIN(xEvent, timestamp, '
                f"[C0: {EMAIL} WHEN(today), C1: {CHECKOUT} WHEN(today)])",
                True,
                False,
            ),
            # §10.1 the recommended pattern, with a profile-only audience (the older rule)
            (
                f'inSegment("{PROFILE_AUDIENCE}") and \nCHAIN(xEvent, timestamp, '
                f"[C0: {CHECKOUT} \nWHEN(<= 24 hours before now)])",
                True,
                True,
            ),
            # §10.3 segment of segments
            (f'inSegment("{PROFILE_AUDIENCE}") and inSegment("{EVENT_AUDIENCE}")', True, True),
            # §10.3 older edge page
            ('chain(xEvent, timestamp, [A: WHAT(eventType = "addToCart")])', False, False),
            (
                'chain(xEvent, timestamp, [X: WHAT(eventType = "addToCart") '
                "WHEN(< 8 days before now)])",
                False,
                False,
            ),
            (
                'chain(xEvent, timestamp, [A: WHAT(eventType = "homePageView") '
                "WHEN(< 24 hours before now) COUNT(5) ] )",
                True,
                True,
            ),
            ('not(chain(xEvent, timestamp, [A: WHAT(eventType = "homePageView")]))', False, False),
            (
                'chain(xEvent, timestamp, [A: WHAT(eventType = "addToCart") '
                'WHERE(externalSegmentMapProperty.values().exists(stringProperty="active"))])',
                False,
                False,
            ),
            (
                'chain(xEvent, timestamp, [A: WHAT(eventType = "addToCart") WHEN(today) '
                'WHERE(externalSegmentMapProperty.values().exists(stringProperty="active"))])',
                True,
                True,
            ),
            (
                'chain(xEvent, timestamp, [A: WHAT(eventType = "a") WHEN(today)]) and '
                'chain(xEvent, timestamp, [B: WHAT(eventType = "b") WHEN(today)])',
                True,
                False,
            ),
            # §10.4.2 legacy single-variable select/exists: a step without a window
            ('select var1 from xEvent where var1.eventType = "commerce.purchases"', False, False),
            (
                'select var1 from xEvent where var1.eventType = "commerce.purchases" and '
                "var1.timestamp occurs <= 24 hours before now",
                True,
                True,
            ),
            ('exists E from xEvent where E.eventType = "a"', False, False),
        ],
    )
    def test_example(self, text: str, streaming: bool, edge: bool) -> None:
        assert methods(text) == (streaming, edge)

    def test_reasons_name_the_step_and_its_window(self) -> None:
        result = classes(
            'chain(xEvent, timestamp, [X: WHAT(eventType = "addToCart") WHEN(< 8 days before now)])'
        )
        assert result.reasons == (
            "chain step `X` is not limited to the last 24 hours "
            "(`timestamp occurs < 8 days before now`)",
        )
        result = classes('chain(xEvent, timestamp, [A: WHAT(eventType = "addToCart")])')
        assert result.reasons == (
            "chain step `A` has no time window; streaming and edge need one of 24 hours",
        )

    def test_several_events_are_streaming_but_not_edge(self) -> None:
        result = classes(
            f"CHAIN(xEvent, timestamp, [C0: {EMAIL} WHEN(today), C1: {CHECKOUT} WHEN(today)])"
        )
        assert (result.streaming, result.edge) == (True, False)
        assert result.reasons == (
            "edge evaluates at most one event condition; this definition has 2 "
            "(chain step `C0`, chain step `C1`)",
        )


class TestSection14Examples:
    @pytest.mark.parametrize(
        ("text", "streaming", "reason"),
        [
            (
                'homeAddress.countryISO = "US" and (select Order1 from xEvent where '
                "Order1.commerce.order, Order2 from xEvent where Order2.commerce.order and "
                "Order2.timestamp occurs < 2 weeks after Order1.timestamp)",
                False,
                "`select` with several bindings",
            ),
            (
                "select A1 from xEvent where A1.metrics.commerce.abandons.value > 0, A2 from "
                "xEvent where A2.metrics.commerce.abandons.value > 0 and A1.id != A2.id and "
                "A1.timestamp occurs < 2 days before A2.timestamp",
                False,
                "`select` with several bindings",
            ),
            ("_repo.lastModifiedDate occurs <= 30 minutes before now", True, None),
            (
                'xEvent[(timestamp occurs < 7 days before now) and eventType="download"]'
                ".groupBy(product).map((K, G) => mapEntry(K, G.count()))",
                False,
                "`xEvent[…]`",
            ),
            (
                "let S = (sum X.commerce.order.priceTotal over X from xEvent where "
                'X.commerce.order.currencyCode = "USD") in (S > 100 and S < 1000)',
                False,
                "`let` over event data",
            ),
            (
                'not(chain(xEvent, timestamp, [A: WHAT(eventType = "homePageView") '
                "WHEN(< 24 hours before now) COUNT(5) ] ))",
                False,
                "every event condition is negated",
            ),
        ],
    )
    def test_example(self, text: str, streaming: bool, reason: str | None) -> None:
        result = classes(text)
        assert result.streaming is streaming
        assert result.edge is streaming
        if reason is not None:
            assert any(reason in text for text in result.reasons), result.reasons


class TestBatchOnlyEventUses:
    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("xEvent.metrics.commerce.abandons.value > 0", "an `xEvent.…` path"),
            ("xEvent.count() > 3", "`xEvent.count()`"),
            ('(select X from xEvent where X.eventType = "a").count() > 5', "used as a value"),
            ('forall X from xEvent where X.eventType = "a"', "`forall` over `xEvent`"),
            ("sum X.p over X from xEvent where X.p > 1", "`sum`/`average`/`min`/`max … over`"),
            ("xEvent.map((E) => E.p).count() > 1", "xEvent.map()"),
            ("chain(person.orders, ts, [A: WHAT(a) WHEN(today)])", "other than `xEvent`"),
            (
                "chain(xEvent, timestamp, [A: WHAT(xEvent.count() > 1) WHEN(today)])",
                "nests another event query",
            ),
            (
                "exists E from xEvent where E.a, I from E.productListItems where I.SKU = 1",
                "`exists` with several bindings",
            ),
            ('@{ctx}.weather = "sunny"', "context data"),
        ],
    )
    def test_reason(self, text: str, reason: str) -> None:
        result = classes(text)
        assert (result.streaming, result.edge) == (False, False)
        assert any(reason in line for line in result.reasons), result.reasons

    @pytest.mark.parametrize(
        "text",
        [
            "person.orders.sum(price) > 100",
            "let x = homeAddress.country in x = 'US'",
            "exists O from person.orders where O.total > 10",
            "sum X over X from person.scores",
        ],
    )
    def test_profile_data_in_the_same_shapes_is_fine(self, text: str) -> None:
        assert methods(text) == (True, True)


class TestTimeWindows:
    @pytest.mark.parametrize(
        ("when", "within"),
        [
            ("today", True),
            ("on today", True),
            ("now", True),
            ("this day", True),
            ("this hour", True),
            ("last hour", True),
            ("<= 24 hours before now", True),
            ("< 24 hours before now", True),
            ("<= 1 day before now", True),
            ("<= 1440 minutes before now", True),
            ("= 23 hours before now", True),
            ("< 30 minutes before now", True),
            ("between today and now", True),
            ("after yesterday", True),
            ("after now", True),
            ("<= 1441 minutes before now", False),
            ("= 24 hours before now", False),
            ("< 8 days before now", False),
            ("<= 2 days before now", False),
            ("<= 1 day before today", False),
            ("< 1 month before now", False),
            ("> 1 hour before now", False),
            (">= 0 days before now", False),
            ("!= 1 day before now", False),
            ("before now", False),
            ("yesterday", False),
            ("tomorrow", False),
            ("last day", False),
            ("this week", False),
            ("next hour", False),
            ("between yesterday and today", False),
            ("on date(2025, 5, 20)", False),
            ("before date(2025, 5, 20)", False),
            ("after last week", False),
        ],
    )
    def test_step_window(self, when: str, within: bool) -> None:
        text = f'chain(xEvent, timestamp, [A: WHAT(eventType = "a") WHEN({when})])'
        assert methods(text) == (within, within)

    def test_the_shortest_window_of_a_select_condition_counts(self) -> None:
        text = (
            "exists X from xEvent where X.timestamp occurs < 8 days before now and "
            "X.timestamp occurs today"
        )
        assert methods(text) == (True, True)

    def test_a_window_on_another_field_is_no_window(self) -> None:
        text = "exists X from xEvent where X.receivedAt occurs today"
        assert methods(text) == (False, False)

    def test_every_event_needs_a_window(self) -> None:
        text = (
            'chain(xEvent, timestamp, [A: WHAT(eventType = "a") WHEN(today), '
            'B: WHAT(eventType = "b")])'
        )
        result = classes(text)
        assert (result.streaming, result.edge) == (False, False)
        assert result.reasons[0].startswith("chain step `B` has no time window")


class TestSegmentReferences:
    EVENT = 'chain(xEvent, timestamp, [A: WHAT(eventType = "a") WHEN(today)])'

    def test_a_profile_only_audience_may_join_an_event(self) -> None:
        assert methods(f'inSegment("{PROFILE_AUDIENCE}") and {self.EVENT}') == (True, True)

    def test_another_audience_may_not(self) -> None:
        result = classes(f'inSegment("{EVENT_AUDIENCE}") and {self.EVENT}')
        assert (result.streaming, result.edge) == (False, False)
        assert result.reasons == (
            f'audience "{EVENT_AUDIENCE}" is not profile-only, so it cannot be combined with '
            "events",
        )

    def test_without_a_callback_no_audience_is_known_to_be_profile_only(self) -> None:
        result = classify(parse(f'inSegment("{PROFILE_AUDIENCE}") and {self.EVENT}'))
        assert (result.streaming, result.edge) == (False, False)
        assert "cannot tell whether audience" in result.reasons[0]

    def test_segments_of_segments_need_no_callback(self) -> None:
        result = classify(parse(f'inSegment("{EVENT_AUDIENCE}") or inSegment("x")'))
        assert (result.streaming, result.edge) == (True, True)

    def test_a_computed_audience_id(self) -> None:
        result = classes(f"inSegment(a.b) and {self.EVENT}")
        assert result.reasons == ("`inSegment` with a computed id cannot be combined with events",)


class TestNegation:
    STEP = 'chain(xEvent, timestamp, [A: WHAT(eventType = "{}") WHEN(today)])'

    def test_a_negated_event_beside_a_positive_one(self) -> None:
        text = f"{self.STEP.format('a')} and not {self.STEP.format('b')}"
        assert methods(text) == (True, False)

    def test_double_negation_is_positive(self) -> None:
        assert methods(f"not (not {self.STEP.format('a')})") == (True, True)

    def test_all_negated(self) -> None:
        text = f"not ({self.STEP.format('a')} or {self.STEP.format('b')})"
        result = classes(text)
        assert (result.streaming, result.edge) == (False, False)
        assert "every event condition is negated" in result.reasons[0]


class TestTrees:
    def test_checked_trees_classify_like_parsed_ones(self) -> None:
        # The resolved form the checker builds: names as VarRef / FieldLookup on ImplicitScope.
        scope = ast.ImplicitScope(0)
        event_type = ast.FieldLookup(scope, "eventType")
        step = ast.ChainStep(
            "A",
            ast.Binary("=", event_type, ast.Literal("a", ast.LiteralKind.STRING)),
            when=ast.Occurs(ast.FieldLookup(scope, "timestamp"), "on", ast.TimeRef("today")),
        )
        chain = ast.Chain(ast.XEvent(), "timestamp", (step,))
        country = ast.FieldLookup(ast.FieldLookup(scope, "homeAddress"), "country")
        us = ast.Binary("=", country, ast.Literal("US", ast.LiteralKind.STRING))
        text = (
            'homeAddress.country = "US" and '
            'chain(xEvent, timestamp, [A: WHAT(eventType = "a") WHEN(today)])'
        )
        assert classify(ast.Binary("and", us, chain)) == classify(parse(text))
        variable = ast.VarRef("X")
        window = ast.Occurs(
            ast.FieldLookup(variable, "timestamp"),
            "relative",
            ast.TimeRef("now"),
            comparator="<",
            amount=1,
            unit=ast.TimeUnit.HOUR,
            direction="before",
        )
        select = ast.Select((ast.Binding("X", ast.XEvent(), window),))
        assert classify(select) == EvaluationClasses(True, True, True, ())

    def test_long_or_chains_need_no_recursion(self) -> None:
        text = " or ".join(f'homeAddress.postalCode = "{i}"' for i in range(3000))
        assert methods(text) == (True, True)

    def test_evaluation_info(self) -> None:
        assert evaluation_info(classes("a = 1")) == {
            "batch": {"enabled": True},
            "continuous": {"enabled": True},
            "synchronous": {"enabled": True},
        }
        assert evaluation_info(classes("xEvent.count() > 1")) == {
            "batch": {"enabled": True},
            "continuous": {"enabled": False},
            "synchronous": {"enabled": False},
        }
