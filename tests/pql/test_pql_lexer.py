"""Lexical rules of pql.md §2: names, strings and escapes, numbers, operators, references."""

from __future__ import annotations

import pytest

from segmint.pql import PQLSyntaxError
from segmint.pql.lexer import Token, TokenType, tokenize

T = TokenType


def types(text: str) -> list[TokenType]:
    return [token.type for token in tokenize(text)][:-1]


def values(text: str) -> list[str | int | float]:
    return [token.value for token in tokenize(text)][:-1]


def single(text: str) -> Token:
    tokens = tokenize(text)
    assert len(tokens) == 2, tokens
    return tokens[0]


class TestNames:
    def test_identifiers_keep_their_case(self) -> None:
        assert values("person Profile X _repo _Any1__Product_list_items1") == [
            "person",
            "Profile",
            "X",
            "_repo",
            "_Any1__Product_list_items1",
        ]

    def test_keywords_are_names_recognised_case_insensitively(self) -> None:
        token = single("CHAIN")
        assert token.type is T.NAME
        assert token.is_keyword("chain")
        assert not token.is_keyword("select")

    def test_names_are_ascii(self) -> None:
        with pytest.raises(PQLSyntaxError, match="unexpected character `é`"):
            tokenize("café")


class TestStrings:
    @pytest.mark.parametrize(
        ("text", "value"),
        [
            ('"pizza"', "pizza"),
            ('""', ""),
            ("'US'", "US"),
            ('"it\'s"', "it's"),
            ("'say \"hi\"'", 'say "hi"'),
            (r'"a\\b"', "a\\b"),
            (r'"a\"b"', 'a"b'),
            (r"'a\'b'", "a'b"),
            (r'"\n\t\r"', "\n\t\r"),
            (r'"\u00e9\u0041"', "éA"),
            (r'"@(\\w+)"', "@(\\w+)"),
            (r'"@(\w+)"', "@(\\w+)"),  # an unknown escape stays as written
            ('"two\nlines"', "two\nlines"),
        ],
    )
    def test_escapes(self, text: str, value: str) -> None:
        token = single(text)
        assert token.type is T.STRING
        assert token.value == value

    def test_unterminated_string_points_at_the_opening_quote(self) -> None:
        with pytest.raises(PQLSyntaxError, match="unterminated string") as error:
            tokenize('a = "abc')
        assert (error.value.line, error.value.column) == (1, 5)

    def test_bad_unicode_escape(self) -> None:
        with pytest.raises(PQLSyntaxError, match="four hex digits") as error:
            tokenize(r'"\u12"')
        assert error.value.column == 2

    @pytest.mark.parametrize("quote", ["\u201c", "\u201d", "\u2018", "\u2019"])
    def test_typographic_quotes_are_rejected(self, quote: str) -> None:
        with pytest.raises(PQLSyntaxError, match="typographic quote") as error:
            tokenize(f"x = {quote}CA{quote}")
        assert error.value.column == 5


class TestNumbers:
    @pytest.mark.parametrize(
        ("text", "type_", "value"),
        [
            ("0", T.INTEGER, 0),
            ("412", T.INTEGER, 412),
            ("3.14", T.DOUBLE, 3.14),
            (".45", T.DOUBLE, 0.45),
            ("0.0", T.DOUBLE, 0.0),
            ("2.02E12", T.DOUBLE, 2.02e12),
            ("2.02E-12", T.DOUBLE, 2.02e-12),
            ("1e+20", T.DOUBLE, 1e20),
            ("7e3", T.DOUBLE, 7000.0),
        ],
    )
    def test_number_forms(self, text: str, type_: TokenType, value: float) -> None:
        token = single(text)
        assert (token.type, token.value) == (type_, value)

    def test_minus_is_a_separate_token(self) -> None:
        assert types("-201") == [T.MINUS, T.INTEGER]

    def test_a_dot_after_digits_starts_a_field_when_no_digit_follows(self) -> None:
        assert types("5.abs") == [T.INTEGER, T.DOT, T.NAME]

    def test_exponent_needs_digits(self) -> None:
        assert types("2e") == [T.INTEGER, T.NAME]


class TestOperators:
    def test_maximal_munch(self) -> None:
        assert types("<= < >= > != ! => = ^^") == [
            T.LTE,
            T.LT,
            T.GTE,
            T.GT,
            T.NEQ,
            T.BANG,
            T.ARROW,
            T.EQ,
            T.CARET,
            T.CARET,
        ]

    def test_no_spaces_needed(self) -> None:
        assert types("a<=3") == [T.NAME, T.LTE, T.INTEGER]
        assert types("a!=b") == [T.NAME, T.NEQ, T.NAME]

    def test_punctuation(self) -> None:
        assert types(".,:()[]{}+-*/%") == [
            T.DOT,
            T.COMMA,
            T.COLON,
            T.L_PAREN,
            T.R_PAREN,
            T.L_BRACKET,
            T.R_BRACKET,
            T.L_BRACE,
            T.R_BRACE,
            T.PLUS,
            T.MINUS,
            T.STAR,
            T.SLASH,
            T.PERCENT,
        ]

    def test_unknown_character(self) -> None:
        with pytest.raises(PQLSyntaxError, match="unexpected character `#`"):
            tokenize("a # b")


class TestReferences:
    def test_parameter(self) -> None:
        token = single("$12")
        assert (token.type, token.value) == (T.PARAM, 12)

    def test_parameter_needs_digits(self) -> None:
        with pytest.raises(PQLSyntaxError, match=r"after `\$`"):
            tokenize("$x")

    def test_context_reference(self) -> None:
        token = single("@{_xdm.context.additionalParameters;version=1}")
        assert token.type is T.CONTEXT
        assert token.value == "_xdm.context.additionalParameters;version=1"

    def test_unterminated_context_reference(self) -> None:
        with pytest.raises(PQLSyntaxError, match="unterminated context"):
            tokenize("@{abc")

    def test_at_sign_needs_a_brace(self) -> None:
        with pytest.raises(PQLSyntaxError, match=r"expected `\{`"):
            tokenize("@abc")


class TestPositions:
    def test_offsets_lines_and_columns(self) -> None:
        tokens = tokenize('a and\n  b = "x"')
        assert [(t.text, t.start, t.line, t.column) for t in tokens] == [
            ("a", 0, 1, 1),
            ("and", 2, 1, 3),
            ("b", 8, 2, 3),
            ("=", 10, 2, 5),
            ('"x"', 12, 2, 7),
            ("", 15, 2, 10),
        ]

    def test_whitespace_of_any_kind_separates_tokens(self) -> None:
        assert types("a\tand\r\nb") == [T.NAME, T.NAME, T.NAME]

    def test_empty_input_is_just_eof(self) -> None:
        assert [token.type for token in tokenize("  ")] == [T.EOF]
