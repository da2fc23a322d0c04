"""Every ``valid`` example of the Adobe-doc corpus type-checks (pql.md §13 "check against the
corpus"), against Segmint's standard XDM field groups extended with the fields the doc
snippets use; the exceptions are listed explicitly with the error each one raises."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from pql_corpus import load
from test_pql_checker import nodes

from segmint.pql import PQLError, PQLTypeError, PQLUnsupportedError, ast, check, parse
from segmint.pql.types import (
    BOOLEAN,
    DATE,
    DATETIME,
    DOUBLE,
    INTEGER,
    STRING,
    ArrayType,
    MapType,
    ObjectType,
    PQLType,
    Schema,
)
from segmint.xdm import DEFAULT_SCHEMA, build_schema

Fields = Mapping[str, Any]  # a PQLType, or a nested Fields for an object


def extend(obj: ObjectType, additions: Fields) -> ObjectType:
    """``obj`` with ``additions``; a nested mapping extends (or creates) an object field."""
    fields: dict[str, PQLType] = dict(obj.fields)
    for name, addition in additions.items():
        if isinstance(addition, Mapping):
            current = fields.get(name)
            base = current if isinstance(current, ObjectType) else ObjectType(name)
            fields[name] = extend(base, addition)
        else:
            fields[name] = addition
    return ObjectType(obj.name, fields)


STRINGS = ArrayType(STRING)
MEASURE = {"value": DOUBLE}
ANALYTICS = {"analytics": {"endUser": {"firstWeb": {"webPageDetails": {"isHomePage": BOOLEAN}}}}}
ADDRESS_CODES = {"countryISO": STRING, "stateProvinceISO": STRING, "stateOrProvince": STRING}

# Fields the doc snippets read that Segmint's standard field groups do not have. Snippets
# written against an unbound `X`/`Y` (pql-017 …) get profile objects of those names.
PROFILE_FIELDS: Fields = {
    "X": {"timestamp": DATETIME},
    "Y": {"timestamp": DATETIME},
    "person": {
        "birthMonth": INTEGER,
        "birthDay": INTEGER,
        "birthdate": DATE,
        "birthday": DATE,
        "firstName": STRING,
        "emailAddress": STRING,
        "favoriteColors": STRINGS,
        "favoriteCities": STRINGS,
        "visitedCities": STRINGS,
        "citiesVisited": STRINGS,
        "eatenFoods": STRINGS,
        "orders": ArrayType(ObjectType("PersonOrder", {"storeId": STRING})),
        "homeAddress": DEFAULT_SCHEMA.profile.fields["homeAddress"],
    },
    "homeAddress": ADDRESS_CODES,
    "workAddress": ADDRESS_CODES,
    "person1": {"favoriteColors": STRINGS},
    "person2": {"favoriteColors": STRINGS},
    "orders": ArrayType(
        ObjectType("DocOrder", {"price": DOUBLE, "order": ObjectType("Price", {"price": DOUBLE})})
    ),
    "product": {
        "inventory": INTEGER,
        "price": DOUBLE,
        "saleYear": INTEGER,
        "sale": DATE,
        "saleDate": DATETIME,
    },
    "product1": {"price": DOUBLE},
    "product2": {"price": DOUBLE},
    "totalProduct": {"price": DOUBLE, "sold": INTEGER},
    "timestamp": DATETIME,
    "externalSegmentMapProperty": MapType(ObjectType("Entry", {"stringProperty": STRING})),
    "ca1": DOUBLE,
    "ca2": DOUBLE,
    "intField1": INTEGER,
    "intField2": INTEGER,
    "birthMonth": INTEGER,
    "firstName": STRING,
    "citiesVisited": STRINGS,
    "stateProvinceISO": STRING,
    "_repo": {"modifyDate": DATETIME, "lastModifiedDate": DATETIME},
    # pql-159 reads a bare `commerce` inside `some x FROM xEvent WHERE …`: a `where` pushes no
    # implicit scope, so bare names there are profile fields.
    "commerce": {"order": {"priceTotal": DOUBLE}},
}
EVENT_FIELDS: Fields = {
    "metrics": {
        "commerce": {
            "abandons": MEASURE,
            "productListViews": MEASURE,
            "productViews": DOUBLE,
            "purchases": DOUBLE,
        }
    },
    "commerce": {"item": {"price": DOUBLE}, "order": {"purchaseId": STRING}},
    "contentType": STRING,
    "category": STRING,
    "product": STRING,
    "type": STRING,
    "ts_flight": DATETIME,
    "id": STRING,
    "_coresvc": {
        "event": {"subType": STRING},
        "attributes": ArrayType(ObjectType("Attribute", {"name": STRING, "value": STRING})),
    },
    "_experience": ANALYTICS,
    # pql-114 copies pql-095's condition into a chain step without its `var1` binding.
    "var1": {"_experience": ANALYTICS},
}
SALESVELOCITY = extend(
    ObjectType("_salesvelocity"),
    {
        "individualScoring": ArrayType(
            extend(
                ObjectType("IndividualScoring"),
                {"core": {"category": STRING, "propensityScore": DOUBLE}},
            )
        ),
        "CustomerAI": {
            "extraBaggagePropensity": {"score": DOUBLE},
            "insurancePropensity": {"score": DOUBLE},
        },
    },
)
TENANT_SCHEMA = build_schema(tenant_profile_fields={"_salesvelocity": SALESVELOCITY})
CORPUS_SCHEMA = Schema(
    profile=extend(TENANT_SCHEMA.profile, PROFILE_FIELDS),
    event=extend(TENANT_SCHEMA.event, EVENT_FIELDS),
)
OFFER: Fields = {
    "_id": STRING,
    "rank": {"priority": INTEGER},
    "characteristics": {
        "city": STRING,
        "prioritySegmentId": STRING,
        "propensityType": STRING,
        "weather": STRING,
    },
}
# The ranking-formula examples read the candidate `offer` of offer decisioning (pql.md §7.15).
DECISIONING_SCHEMA = Schema(
    profile=extend(CORPUS_SCHEMA.profile, {"offer": OFFER}),
    event=CORPUS_SCHEMA.event,
)
# pql-149 reads the characteristics as a map (`.get("city")`), the others as an object.
DECISIONING_MAP_SCHEMA = Schema(
    profile=extend(CORPUS_SCHEMA.profile, {"offer": {**OFFER, "characteristics": MapType(STRING)}}),
    event=CORPUS_SCHEMA.event,
)

# A constant is not a condition (pql.md §1.4): these doc examples illustrate literals.
CONSTANTS = {
    "pql-003",
    "pql-004",
    "pql-005",
    "pql-008",
    "pql-009",
    "pql-011",
    "pql-012",
    "pql-013",
    "pql-014",
    "pql-015",
    "pql-016",
}
# Offer-decisioning ranking formulas: `offer` is no profile field.
OFFER_RULES = {"pql-145", "pql-146", "pql-147", "pql-148", "pql-149", "pql-152", "pql-153"}
# Offer decisioning with context data `@{…}`.
CONTEXT_DATA = {"pql-151"}
EXPECTED_ERRORS: dict[str, tuple[type[PQLError], str]] = {
    **dict.fromkeys(CONSTANTS, (PQLTypeError, "a segment definition must be a condition")),
    **dict.fromkeys(
        OFFER_RULES, (PQLUnsupportedError, "`offer` .* only in offer-decisioning rules")
    ),
    **dict.fromkeys(CONTEXT_DATA, (PQLUnsupportedError, r"context data `@\{…\}`")),
}
VALID = load("valid")
CHECKING = [pytest.param(r["pql"], id=r["id"]) for r in VALID if r["id"] not in EXPECTED_ERRORS]
FAILING = [pytest.param(r["pql"], r["id"], id=r["id"]) for r in VALID if r["id"] in EXPECTED_ERRORS]


def test_the_lists_name_valid_entries_only() -> None:
    assert set(EXPECTED_ERRORS) <= {row["id"] for row in VALID}
    assert len(CHECKING) + len(FAILING) == len(VALID)


@pytest.mark.parametrize("text", CHECKING)
def test_valid_entry_checks(text: str) -> None:
    tree = check(parse(text), CORPUS_SCHEMA, source=text)
    for node in nodes(tree):
        assert node.type is not None, node
        assert not isinstance(node, ast.Name | ast.UpRef | ast.ParamRef), node
    assert check(tree, CORPUS_SCHEMA) == tree


@pytest.mark.parametrize(("text", "entry"), FAILING)
def test_listed_entry_raises_its_error(text: str, entry: str) -> None:
    error, message = EXPECTED_ERRORS[entry]
    with pytest.raises(error, match=message):
        check(parse(text), CORPUS_SCHEMA, source=text)


@pytest.mark.parametrize(("text", "entry"), [p for p in FAILING if p.values[1] in OFFER_RULES])
def test_offer_rules_check_once_offer_is_in_the_schema(text: str, entry: str) -> None:
    schema = DECISIONING_MAP_SCHEMA if entry == "pql-149" else DECISIONING_SCHEMA
    assert check(parse(text), schema, source=text).type is not None


def test_the_standard_schema_alone_checks_most_entries() -> None:
    """Without the doc-only fields, the entries written against real XDM paths check too."""
    standard = [
        "pql-086",
        "pql-087",
        "pql-089",
        "pql-091",
        "pql-102",
        "pql-104",
        "pql-107",
        "pql-109",
        "pql-157",
        "pql-176",
        "pql-303",
        "pql-305",
    ]
    rows = {row["id"]: row["pql"] for row in VALID}
    for entry in standard:
        assert check(parse(rows[entry]), DEFAULT_SCHEMA, source=rows[entry]).type is not None
