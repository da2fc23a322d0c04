"""The PQL parser: a recursive-descent parser for the grammar of pql.md §13.

``parse`` turns pql/text into a syntactic ``ast.Expr`` (bare names stay ``ast.Name``; the checker
resolves them). One ``_parse_<rule>`` method per grammar rule; every node carries its span.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import ClassVar

from segmint.pql import ast
from segmint.pql.errors import PQLSyntaxError
from segmint.pql.lexer import Token, TokenType, tokenize

# Words that cannot be a bare name in expression position (pql.md §2.3). Time units and the
# chain step words are recognised by position only, so fields may still be called `day`.
RESERVED = frozenset(
    {
        "and", "or", "not", "in", "notin", "like", "matches", "occurs", "between", "on",
        "before", "after", "from", "this", "last", "next", "now", "today", "yesterday",
        "tomorrow", "select", "where", "exists", "forall", "some", "let", "over", "sum",
        "average", "min", "max", "if", "true", "false", "xevent", "chain",
    }
)  # fmt: skip

UNITS: dict[str, ast.TimeUnit] = {
    "millisecond": ast.TimeUnit.MILLISECOND,
    "milliseconds": ast.TimeUnit.MILLISECOND,
    "second": ast.TimeUnit.SECOND,
    "seconds": ast.TimeUnit.SECOND,
    "minute": ast.TimeUnit.MINUTE,
    "minutes": ast.TimeUnit.MINUTE,
    "hour": ast.TimeUnit.HOUR,
    "hours": ast.TimeUnit.HOUR,
    "day": ast.TimeUnit.DAY,
    "days": ast.TimeUnit.DAY,
    "week": ast.TimeUnit.WEEK,
    "weeks": ast.TimeUnit.WEEK,
    "month": ast.TimeUnit.MONTH,
    "months": ast.TimeUnit.MONTH,
    "year": ast.TimeUnit.YEAR,
    "years": ast.TimeUnit.YEAR,
    "decade": ast.TimeUnit.DECADE,
    "decades": ast.TimeUnit.DECADE,
    "century": ast.TimeUnit.CENTURY,
    "centuries": ast.TimeUnit.CENTURY,
    "millennium": ast.TimeUnit.MILLENNIUM,
    "millennia": ast.TimeUnit.MILLENNIUM,
    "millenium": ast.TimeUnit.MILLENNIUM,
}

COMPARISON_OPERATORS: dict[TokenType, str] = {
    TokenType.EQ: "=",
    TokenType.NEQ: "!=",
    TokenType.LT: "<",
    TokenType.LTE: "<=",
    TokenType.GT: ">",
    TokenType.GTE: ">=",
}
ADDITIVE_OPERATORS = {TokenType.PLUS: "+", TokenType.MINUS: "-"}
MULTIPLICATIVE_OPERATORS = {TokenType.STAR: "*", TokenType.SLASH: "/", TokenType.PERCENT: "%"}
WORD_OPERATORS = {"in": "in", "notin": "notIn", "like": "like", "matches": "matches"}
TIME_WORDS = ("now", "today", "yesterday", "tomorrow")
PERIOD_WORDS = ("this", "last", "next")
DIRECTIONS = ("before", "after", "from")
QUANTIFIERS = ("exists", "some", "forall")
AGGREGATES = ("sum", "average", "min", "max")
# How deep parentheses, arguments, prefix operators and non-logical operator chains may nest,
# so that recursive consumers of the tree stay far from Python's recursion limit. `and`/`or`
# chains are exempt: long ones are common and the checker and printer walk them iteratively.
MAX_DEPTH = 50


def parse(text: str) -> ast.Expr:
    """Parse pql/text into a syntactic tree; raise ``PQLSyntaxError`` with its location."""
    return Parser(text).parse()


class Parser:
    """Parses one pql/text expression. Use :func:`parse`."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._tokens = tokenize(text)
        self._index = 0
        # Groupings already parsed while looking for a list after `in` (token index of `(` ->
        # the expression and the index after it), so backtracking never parses one twice.
        self._groupings: dict[int, tuple[ast.Expr, int]] = {}
        self._depth = 0
        self._peak = 0  # the deepest level reached since the last `_operand_start`

    def parse(self) -> ast.Expr:
        expr = self._parse_expr()
        if self._peek().type is not TokenType.EOF:
            raise self._unexpected(self._peek())
        return expr

    # --- token helpers ----------------------------------------------------------------------

    def _peek(self, offset: int = 0) -> Token:
        return self._tokens[min(self._index + offset, len(self._tokens) - 1)]

    @property
    def _previous(self) -> Token:
        return self._tokens[self._index - 1]

    def _advance(self) -> Token:
        token = self._peek()
        if token.type is not TokenType.EOF:
            self._index += 1
        return token

    def _match(self, type_: TokenType) -> bool:
        if self._peek().type is type_:
            self._advance()
            return True
        return False

    def _expect(self, type_: TokenType, what: str) -> Token:
        if self._peek().type is not type_:
            raise self._error(f"expected {what} but found {self._peek().describe()}")
        return self._advance()

    def _check_keyword(self, *words: str) -> bool:
        return self._peek().is_keyword(*words)

    def _match_keyword(self, *words: str) -> bool:
        if self._check_keyword(*words):
            self._advance()
            return True
        return False

    def _expect_keyword(self, word: str) -> Token:
        if not self._check_keyword(word.lower()):
            raise self._error(f"expected `{word}` but found {self._peek().describe()}")
        return self._advance()

    def _expect_identifier(self, what: str) -> Token:
        token = self._peek()
        if token.type is not TokenType.NAME or token.text.lower() in RESERVED:
            raise self._error(f"expected {what} but found {token.describe()}")
        return self._advance()

    def _error(self, message: str, token: Token | None = None) -> PQLSyntaxError:
        token = token or self._peek()
        return PQLSyntaxError(
            message,
            source=self._text,
            line=token.line,
            column=token.column,
            length=token.end - token.start,
        )

    def _deeper(self) -> None:
        """One more level of nesting; raise past ``MAX_DEPTH``. Callers restore ``_depth``."""
        self._depth += 1
        self._peak = max(self._peak, self._depth)
        if self._depth > MAX_DEPTH:
            raise self._error(f"the expression is nested more than {MAX_DEPTH} levels deep")

    def _operand_start(self) -> tuple[int, int]:
        """Before the first operand of a left-nested chain (``a.b.c``, ``a + b + c``): start
        measuring how deep it nests. Returns what ``_operand_end`` restores."""
        saved = (self._depth, self._peak)
        self._peak = self._depth
        return saved

    def _stack_on_operand(self) -> None:
        """Operators applied to the first operand wrap it, so they nest below its deepest
        level: without this, `f(f(…).a.a…).a.a…` would build trees far deeper than the limit."""
        self._depth = self._peak

    def _operand_end(self, saved: tuple[int, int]) -> None:
        self._depth, peak = saved
        self._peak = max(peak, self._peak)

    def _unexpected(self, token: Token) -> PQLSyntaxError:
        return self._error(f"unexpected {token.describe()}", token)

    def _span_from(self, start: Token) -> ast.Span:
        """From ``start`` to the end of the last consumed token (parentheses included)."""
        return ast.Span(start.start, self._previous.end, start.line, start.column)

    def _at_binding(self, offset: int = 0) -> bool:
        """Whether the tokens at ``offset`` read ``IDENT from``."""
        name = self._peek(offset)
        return (
            name.type is TokenType.NAME
            and name.text.lower() not in RESERVED
            and self._peek(offset + 1).is_keyword("from")
        )

    # --- expr: the level-0 constructs that extend to the right ------------------------------

    def _parse_expr(self) -> ast.Expr:
        depth = self._depth
        self._deeper()
        expr = self._parse_level_zero()
        self._depth = depth
        return expr

    def _parse_level_zero(self) -> ast.Expr:
        if self._peek().type is TokenType.L_PAREN and self._at_lambda():
            return self._parse_lambda()
        if self._check_keyword("let"):
            return self._parse_let()
        if self._check_keyword("select"):
            return self._parse_select()
        if self._check_keyword(*QUANTIFIERS) and self._at_binding(1):
            return self._parse_quantified()
        if self._check_keyword(*AGGREGATES):
            return self._parse_aggregate()
        return self._parse_or()

    def _at_lambda(self) -> bool:
        """Whether ``( IDENT {, IDENT} ) =>`` starts here."""
        offset = 1
        while True:
            if self._peek(offset).type is not TokenType.NAME:
                return False
            separator = self._peek(offset + 1).type
            if separator is TokenType.R_PAREN:
                return self._peek(offset + 2).type is TokenType.ARROW
            if separator is not TokenType.COMMA:
                return False
            offset += 2

    def _parse_lambda(self) -> ast.Lambda:
        start = self._advance()
        params = [self._expect_identifier("a parameter name").text]
        while self._match(TokenType.COMMA):
            params.append(self._expect_identifier("a parameter name").text)
        self._expect(TokenType.R_PAREN, "`)`")
        self._expect(TokenType.ARROW, "`=>`")
        body = self._parse_expr()
        return ast.Lambda(tuple(params), body, span=self._span_from(start))

    def _parse_let(self) -> ast.Let:
        start = self._advance()
        name = self._expect_identifier("a variable name").text
        self._expect(TokenType.EQ, "`=`")
        value = self._parse_additive()
        self._expect_keyword("in")
        body = self._parse_expr()
        return ast.Let(name, value, body, span=self._span_from(start))

    def _parse_select(self) -> ast.Select:
        start = self._advance()
        return ast.Select(self._parse_bindings(), span=self._span_from(start))

    def _parse_quantified(self) -> ast.Quantified:
        start = self._advance()
        bindings = self._parse_bindings()
        return ast.Quantified(start.text.lower(), bindings, span=self._span_from(start))

    def _parse_aggregate(self) -> ast.Aggregate:
        start = self._advance()
        function = start.text.lower()
        if self._at_binding():
            binding = self._parse_binding()
            return ast.Aggregate(function, None, (binding,), span=self._span_from(start))
        value = self._parse_additive()
        self._expect_keyword("over")
        bindings = self._parse_bindings()
        return ast.Aggregate(function, value, bindings, span=self._span_from(start))

    def _parse_bindings(self) -> tuple[ast.Binding, ...]:
        bindings = [self._parse_binding()]
        while self._peek().type is TokenType.COMMA and self._at_binding(1):
            self._advance()
            bindings.append(self._parse_binding())
        return tuple(bindings)

    def _parse_binding(self) -> ast.Binding:
        start = self._expect_identifier("a variable name")
        self._expect_keyword("from")
        source = self._parse_additive()
        condition = None
        if self._match_keyword("where") or self._match(TokenType.COLON):
            condition = self._parse_or()
        return ast.Binding(start.text, source, condition, span=self._span_from(start))

    # --- boolean and comparison levels ---------------------------------------------------------

    def _parse_or(self) -> ast.Expr:
        start = self._peek()
        left = self._parse_and()
        while self._match_keyword("or"):
            right = self._parse_and()
            left = ast.Binary("or", left, right, span=self._span_from(start))
        return left

    def _parse_and(self) -> ast.Expr:
        start = self._peek()
        left = self._parse_not()
        while self._match_keyword("and"):
            right = self._parse_not()
            left = ast.Binary("and", left, right, span=self._span_from(start))
        return left

    def _parse_not(self) -> ast.Expr:
        if self._check_keyword("not") or self._peek().type is TokenType.BANG:
            start, depth = self._advance(), self._depth
            self._deeper()
            operand = self._parse_not()
            self._depth = depth
            return ast.Unary("not", operand, span=self._span_from(start))
        return self._parse_comparison()

    def _at_comparison(self) -> bool:
        token = self._peek()
        return token.type in COMPARISON_OPERATORS or token.is_keyword(*WORD_OPERATORS, "occurs")

    def _parse_comparison(self) -> ast.Expr:
        start = self._peek()
        left = self._parse_additive()
        if not self._at_comparison():
            return left
        node = self._parse_comparison_tail(left, start)
        if self._at_comparison():
            raise self._error(
                f"comparison operators do not chain: {self._peek().describe()} cannot follow "
                "a comparison; add parentheses"
            )
        return node

    def _parse_comparison_tail(self, left: ast.Expr, start: Token) -> ast.Expr:
        operator = self._advance()
        if operator.type in COMPARISON_OPERATORS:
            op = COMPARISON_OPERATORS[operator.type]
            right = self._parse_additive()
        elif operator.is_keyword("occurs"):
            return self._parse_occurs_tail(left, start)
        else:
            op = WORD_OPERATORS[operator.text.lower()]
            is_member = op in ("in", "notIn")
            right = (self._parse_paren_list() if is_member else None) or self._parse_additive()
        return ast.Binary(op, left, right, span=self._span_from(start))

    def _parse_paren_list(self) -> ast.ListLiteral | None:
        """``(a, b, …)`` after ``in``/``notIn``; None (nothing consumed) if it is a grouping."""
        start, saved = self._peek(), self._index
        if start.type is not TokenType.L_PAREN:
            return None
        self._advance()
        first = self._parse_expr()
        if self._peek().type is not TokenType.COMMA:
            self._groupings[saved] = (first, self._index)
            self._index = saved  # a grouping: `_parse_paren` reuses `first`
            return None
        self._advance()
        items = (first, *self._parse_items(TokenType.R_PAREN, "`,` or `)`"))
        return ast.ListLiteral(items, span=self._span_from(start))

    # --- occurs ------------------------------------------------------------------------------

    def _parse_occurs_tail(self, target: ast.Expr, start: Token) -> ast.Occurs:
        token = self._peek()
        if token.type in COMPARISON_OPERATORS:
            return self._parse_relative_occurs(target, start)
        if token.is_keyword(*DIRECTIONS):
            direction = self._advance().text.lower()
            anchor = self._parse_time_ref()
            span = self._span_from(start)
            return ast.Occurs(target, "direction", anchor, direction=direction, span=span)
        if self._match_keyword("between"):
            anchor = self._parse_time_ref()
            self._expect_keyword("and")
            anchor2 = self._parse_time_ref()
            span = self._span_from(start)
            return ast.Occurs(target, "between", anchor, anchor2=anchor2, span=span)
        self._match_keyword("on")
        anchor = self._parse_time_ref()
        return ast.Occurs(target, "on", anchor, span=self._span_from(start))

    def _parse_relative_occurs(self, target: ast.Expr, start: Token) -> ast.Occurs:
        comparator = COMPARISON_OPERATORS[self._advance().type]
        amount = self._expect(TokenType.INTEGER, "a whole number of time units").value
        assert isinstance(amount, int)
        unit = self._parse_unit()
        if not self._check_keyword(*DIRECTIONS):
            raise self._error(f"expected `before`, `after` or `from` but found {self._describe()}")
        direction = self._advance().text.lower()
        anchor = self._parse_time_ref()
        return ast.Occurs(
            target,
            "relative",
            anchor,
            comparator=comparator,
            amount=amount,
            unit=unit,
            direction=direction,
            span=self._span_from(start),
        )

    def _describe(self) -> str:
        return self._peek().describe()

    def _at_unit(self, offset: int = 0) -> bool:
        token = self._peek(offset)
        return token.type is TokenType.NAME and token.text.lower() in UNITS

    def _parse_unit(self) -> ast.TimeUnit:
        if not self._at_unit():
            raise self._error(f"expected a time unit (days, hours, …) but found {self._describe()}")
        return UNITS[self._advance().text.lower()]

    def _parse_time_ref(self) -> ast.Expr:
        """A time word, ``this|last|next UNIT``, or a postfix expression (``this.ts`` too)."""
        token = self._peek()
        if token.is_keyword(*TIME_WORDS):
            self._advance()
            return ast.TimeRef(token.text.lower(), span=token.span)
        if token.is_keyword(*PERIOD_WORDS) and (self._at_unit(1) or not token.is_keyword("this")):
            self._advance()
            unit = self._parse_unit()
            return ast.TimeRef(token.text.lower(), unit, span=self._span_from(token))
        return self._parse_postfix()

    # --- arithmetic ----------------------------------------------------------------------------

    def _parse_additive(self) -> ast.Expr:
        start, saved = self._peek(), self._operand_start()
        left = self._parse_multiplicative()
        self._stack_on_operand()
        while self._peek().type in ADDITIVE_OPERATORS:
            self._deeper()
            op = ADDITIVE_OPERATORS[self._advance().type]
            right = self._parse_multiplicative()
            left = ast.Binary(op, left, right, span=self._span_from(start))
        self._operand_end(saved)
        return left

    def _parse_multiplicative(self) -> ast.Expr:
        start, saved = self._peek(), self._operand_start()
        left = self._parse_unary()
        self._stack_on_operand()
        while self._peek().type in MULTIPLICATIVE_OPERATORS:
            self._deeper()
            op = MULTIPLICATIVE_OPERATORS[self._advance().type]
            right = self._parse_unary()
            left = ast.Binary(op, left, right, span=self._span_from(start))
        self._operand_end(saved)
        return left

    def _parse_unary(self) -> ast.Expr:
        if self._peek().type is not TokenType.MINUS:
            return self._parse_postfix()
        start, depth = self._advance(), self._depth
        self._deeper()
        operand = self._parse_unary()
        self._depth = depth
        span = self._span_from(start)
        if isinstance(operand, ast.Literal) and operand.kind in (
            ast.LiteralKind.INTEGER,
            ast.LiteralKind.DOUBLE,
        ):
            assert isinstance(operand.value, int | float)
            return ast.Literal(-operand.value, operand.kind, span=span)
        return ast.Unary("-", operand, span=span)

    # --- postfix and primary -------------------------------------------------------------------

    def _parse_postfix(self) -> ast.Expr:
        start, saved = self._peek(), self._operand_start()
        node = self._parse_primary()
        self._stack_on_operand()
        while self._peek().type in (TokenType.DOT, TokenType.L_BRACKET):
            self._deeper()
            node = self._parse_postfix_step(node, start)
        self._operand_end(saved)
        return node

    def _parse_postfix_step(self, target: ast.Expr, start: Token) -> ast.Expr:
        """``.name``, ``.name(args)`` or ``[condition]`` applied to ``target``."""
        if self._match(TokenType.L_BRACKET):
            condition = self._parse_expr()
            self._expect(TokenType.R_BRACKET, "`]`")
            return ast.Filter(target, condition, span=self._span_from(start))
        self._expect(TokenType.DOT, "`.`")
        name = self._expect(TokenType.NAME, "a field or method name").text
        if self._peek().type is TokenType.L_PAREN:
            args = self._parse_args()
            return ast.MethodCall(target, name, args, span=self._span_from(start))
        return ast.FieldLookup(target, name, span=self._span_from(start))

    def _parse_args(self) -> tuple[ast.Expr, ...]:
        self._expect(TokenType.L_PAREN, "`(`")
        if self._match(TokenType.R_PAREN):
            return ()
        return self._parse_items(TokenType.R_PAREN, "`,` or `)`")

    def _parse_items(self, closer: TokenType, what: str) -> tuple[ast.Expr, ...]:
        """Comma-separated expressions up to and including ``closer``."""
        items = [self._parse_expr()]
        while not self._match(closer):
            self._expect(TokenType.COMMA, what)
            items.append(self._parse_expr())
        return tuple(items)

    def _parse_primary(self) -> ast.Expr:
        token = self._peek()
        if token.type is TokenType.NAME:
            return self._parse_word()
        parse_rule = self._PRIMARY_RULES.get(token.type)
        if parse_rule is None:
            raise self._unexpected(token)
        return parse_rule(self)

    def _parse_literal(self) -> ast.Literal:
        token = self._advance()
        kind = {
            TokenType.STRING: ast.LiteralKind.STRING,
            TokenType.INTEGER: ast.LiteralKind.INTEGER,
            TokenType.DOUBLE: ast.LiteralKind.DOUBLE,
        }[token.type]
        if isinstance(token.value, float) and not math.isfinite(token.value):
            raise self._error(f"number {token.text} is out of range", token)
        return ast.Literal(token.value, kind, span=token.span)

    def _parse_word(self) -> ast.Expr:
        token = self._peek()
        word = token.text.lower()
        if word in ("true", "false"):
            self._advance()
            return ast.Literal(word == "true", ast.LiteralKind.BOOLEAN, span=token.span)
        if word == "xevent":
            return ast.XEvent(span=self._advance().span)
        if word == "this":
            return ast.ImplicitScope(0, span=self._advance().span)
        if word == "chain":
            return self._parse_chain()
        if word == "if":
            return self._parse_call("if")
        if word in RESERVED:
            raise self._error(f"unexpected keyword {token.describe()}")
        if self._peek(1).type is TokenType.L_PAREN:
            return self._parse_call(token.text)
        return ast.Name(self._advance().text, span=token.span)

    def _parse_call(self, name: str) -> ast.FunctionCall:
        start = self._advance()
        if self._peek().type is not TokenType.L_PAREN:
            raise self._error(f"expected `(` after `{start.text}`")
        args = self._parse_args()
        return ast.FunctionCall(name, args, span=self._span_from(start))

    def _parse_paren(self) -> ast.Expr:
        cached = self._groupings.pop(self._index, None)
        self._advance()
        if cached is None:
            expr = self._parse_expr()
        else:
            expr, self._index = cached
        self._expect(TokenType.R_PAREN, "`)`")
        return expr

    def _parse_list(self) -> ast.ListLiteral:
        start = self._advance()
        items: tuple[ast.Expr, ...] = ()
        if not self._match(TokenType.R_BRACKET):
            items = self._parse_items(TokenType.R_BRACKET, "`,` or `]`")
        return ast.ListLiteral(items, span=self._span_from(start))

    def _parse_object(self) -> ast.ObjectLiteral:
        start = self._advance()
        entries: list[tuple[str, ast.Expr]] = []
        if not self._match(TokenType.R_BRACE):
            entries.append(self._parse_entry())
            while not self._match(TokenType.R_BRACE):
                self._expect(TokenType.COMMA, "`,` or `}`")
                entries.append(self._parse_entry())
        return ast.ObjectLiteral(tuple(entries), span=self._span_from(start))

    def _parse_entry(self) -> tuple[str, ast.Expr]:
        key = self._expect(TokenType.STRING, "a quoted object key").value
        assert isinstance(key, str)
        self._expect(TokenType.COLON, "`:`")
        return key, self._parse_expr()

    def _parse_up_ref(self) -> ast.UpRef:
        start = self._peek()
        levels = 0
        while self._match(TokenType.CARET):
            levels += 1
        self._match(TokenType.DOT)
        name = self._expect(TokenType.NAME, "a field name after `^`").text
        return ast.UpRef(levels, name, span=self._span_from(start))

    def _parse_param(self) -> ast.ParamRef:
        token = self._advance()
        assert isinstance(token.value, int)
        if token.value < 1:
            raise self._error("parameters are numbered from `$1`", token)
        return ast.ParamRef(token.value, span=token.span)

    def _parse_context(self) -> ast.ContextRef:
        token = self._advance()
        assert isinstance(token.value, str)
        return ast.ContextRef(token.value, span=token.span)

    # --- chain ---------------------------------------------------------------------------------

    def _parse_chain(self) -> ast.Chain:
        start, depth = self._advance(), self._depth
        self._deeper()
        self._expect(TokenType.L_PAREN, "`(` after `chain`")
        events = self._parse_additive()
        self._expect(TokenType.COMMA, "`,`")
        timestamp = self._expect(TokenType.NAME, "the timestamp field name")
        self._expect(TokenType.COMMA, "`,`")
        self._expect(TokenType.L_BRACKET, "`[` before the chain steps")
        steps = [self._parse_step(timestamp)]
        while self._match(TokenType.COMMA):
            steps.append(self._parse_step(timestamp))
        self._expect(TokenType.R_BRACKET, "`,` or `]`")
        self._expect(TokenType.R_PAREN, "`)`")
        self._depth = depth
        return ast.Chain(events, timestamp.text, tuple(steps), span=self._span_from(start))

    def _parse_step(self, timestamp: Token) -> ast.ChainStep:
        start = self._expect_identifier("a step label")
        self._expect(TokenType.COLON, "`:` after the step label")
        self._expect_keyword("WHAT")
        step = ast.ChainStep(start.text, self._parse_step_argument())
        seen: set[str] = set()
        while self._check_keyword("when", "where", "count"):
            keyword = self._advance()
            clause = keyword.text.lower()
            if clause in seen:
                raise self._error(f"duplicate `{keyword.text}` in a chain step", keyword)
            seen.add(clause)
            step = self._parse_step_clause(step, clause, timestamp)
        return replace(step, span=self._span_from(start))

    def _parse_step_clause(
        self, step: ast.ChainStep, clause: str, timestamp: Token
    ) -> ast.ChainStep:
        if clause == "where":
            return replace(step, where=self._parse_step_argument())
        self._expect(TokenType.L_PAREN, "`(`")
        if clause == "when":
            target = ast.Name(timestamp.text, span=timestamp.span)
            step = replace(step, when=self._parse_occurs_tail(target, self._peek()))
        else:
            count = self._expect(TokenType.INTEGER, "a whole number").value
            assert isinstance(count, int)
            step = replace(step, count=count)
        self._expect(TokenType.R_PAREN, "`)`")
        return step

    def _parse_step_argument(self) -> ast.Expr:
        self._expect(TokenType.L_PAREN, "`(`")
        expr = self._parse_expr()
        self._expect(TokenType.R_PAREN, "`)`")
        return expr

    _PRIMARY_RULES: ClassVar[dict[TokenType, Callable[[Parser], ast.Expr]]] = {
        TokenType.STRING: _parse_literal,
        TokenType.INTEGER: _parse_literal,
        TokenType.DOUBLE: _parse_literal,
        TokenType.L_PAREN: _parse_paren,
        TokenType.L_BRACKET: _parse_list,
        TokenType.L_BRACE: _parse_object,
        TokenType.CARET: _parse_up_ref,
        TokenType.PARAM: _parse_param,
        TokenType.CONTEXT: _parse_context,
    }
