from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from segmint.profiles.generate import COUNTRIES, GenerateResult, generate
from segmint.xdm import DEFAULT_SCHEMA, event_schema, profile_schema
from segmint.xdm.fieldgroups import STANDARD_EVENT_TYPES

NOW = datetime(2025, 6, 30, 12, 0, 0)
PROFILES = 3_000
CHUNK = 1_000


def _generate(out: Path, seed: int = 7, chunk_size: int = CHUNK) -> GenerateResult:
    return generate(
        out, profiles=PROFILES, seed=seed, events_per_profile=8, now=NOW, chunk_size=chunk_size
    )


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> GenerateResult:
    return _generate(tmp_path_factory.mktemp("generated"))


def _files(paths: tuple[Path, ...]) -> str:
    return "[" + ", ".join(f"'{p}'" for p in paths) + "]"


def _rows(sql: str) -> list[tuple[Any, ...]]:
    relation = duckdb.sql(sql)
    assert relation is not None
    return relation.fetchall()


def _one(sql: str) -> tuple[Any, ...]:
    rows = _rows(sql)
    assert len(rows) == 1
    return tuple(rows[0])


@pytest.fixture(scope="module")
def profiles(result: GenerateResult) -> str:
    return f"read_parquet({_files(result.profile_files)})"


@pytest.fixture(scope="module")
def events(result: GenerateResult) -> str:
    return f"read_parquet({_files(result.event_files)})"


def test_files_have_exactly_the_xdm_layout(result: GenerateResult) -> None:
    for path in result.profile_files:
        assert pq.read_schema(path).equals(profile_schema(DEFAULT_SCHEMA))
    for path in result.event_files:
        assert pq.read_schema(path).equals(event_schema(DEFAULT_SCHEMA))


def test_one_file_per_chunk_with_bounded_rows(result: GenerateResult) -> None:
    names = [f"part-{i:05d}.parquet" for i in range(3)]
    assert [p.name for p in result.profile_files] == names
    assert [p.name for p in result.event_files] == names
    assert [p.parent.name for p in result.profile_files] == ["profiles"] * 3
    assert [p.parent.name for p in result.event_files] == ["events"] * 3
    assert [pq.read_metadata(p).num_rows for p in result.profile_files] == [CHUNK] * 3


def test_counts(result: GenerateResult, profiles: str, events: str) -> None:
    assert result.profile_count == PROFILES
    assert _one(f"select count(*) from {profiles}")[0] == PROFILES
    assert _one(f"select count(*) from {events}")[0] == result.event_count
    assert 6 * PROFILES < result.event_count < 10 * PROFILES


def test_same_seed_and_chunk_size_give_identical_output(
    result: GenerateResult, tmp_path: Path
) -> None:
    again = _generate(tmp_path / "again")
    for a, b in zip(
        result.profile_files + result.event_files,
        again.profile_files + again.event_files,
        strict=True,
    ):
        assert pq.read_table(a).equals(pq.read_table(b))


def test_another_seed_gives_other_data(result: GenerateResult, tmp_path: Path) -> None:
    other = _generate(tmp_path / "other", seed=8)
    assert not pq.read_table(other.profile_files[0]).equals(pq.read_table(result.profile_files[0]))


def test_ids_are_unique(profiles: str, events: str) -> None:
    assert _one(f"select count(distinct _id), count(distinct __profile_id) from {profiles}") == (
        PROFILES,
        PROFILES,
    )
    assert _one(f"select count(distinct _id) = count(*) from {events}")[0]


def test_primary_identity_is_the_ecid(profiles: str) -> None:
    bad = _one(f"""
        select count(*) from {profiles}
        where __profile_id <> 'ECID:' || identityMap['ECID'][1].id
           or not identityMap['ECID'][1].primary
           or identityMap['ECID'][1].authenticatedState <> 'ambiguous'
           or not regexp_full_match(identityMap['ECID'][1].id, '[1-9][0-9]{{37}}')
    """)
    assert bad == (0,)


def test_emails_are_unique_and_match_the_identity_map(profiles: str) -> None:
    total, distinct, share = _one(f"""
        select count(personalEmail.address), count(distinct personalEmail.address),
               avg((personalEmail.address is not null)::int)
        from {profiles}
    """)
    assert total == distinct
    assert 0.8 < share < 0.9
    mismatched = _one(f"""
        select count(*) from {profiles}
        where personalEmail.address is distinct from identityMap['Email'][1].id
           or (identityMap['Email'] is not null
               and identityMap['Email'][1].authenticatedState <> 'authenticated')
    """)
    assert mismatched == (0,)


def test_addresses_come_from_real_cities(profiles: str) -> None:
    codes = {c.code for c in COUNTRIES}
    rows = _rows(f"""
        select distinct homeAddress.countryCode, homeAddress.country from {profiles}
        union select distinct workAddress.countryCode, workAddress.country from {profiles}
        where workAddress is not null
    """)
    names = {c.code: c.name for c in COUNTRIES}
    assert all(code in codes and names[code] == name for code, name in rows)
    us_share, no_work, moved = _one(f"""
        select avg((homeAddress.countryCode = 'US')::int), avg((workAddress is null)::int),
               avg((workAddress.city <> homeAddress.city)::int)
        from {profiles}
    """)
    assert us_share > 0.5
    assert 0.3 < no_work < 0.45
    assert 0 < moved < 0.3
    same_country = _one(f"""select bool_and(workAddress.countryCode = homeAddress.countryCode)
                            from {profiles}""")
    assert same_country == (True,)


def test_people_are_adults_with_consistent_birth_data(profiles: str) -> None:
    youngest, oldest, inconsistent = _one(f"""
        select max(person.birthDate), min(person.birthDate),
               count(*) filter (where person.birthYear <> year(person.birthDate)
                                or person.birthDayAndMonth <> strftime(person.birthDate, '%m-%d'))
        from {profiles}
    """)
    today = NOW.date()
    assert youngest <= date(today.year - 18, today.month, today.day)
    assert oldest > date(today.year - 91, today.month, today.day)
    assert inconsistent == 0
    genders = dict(
        _rows(f"""select person.gender, count(*) from {profiles}
                                  group by all""")
    )
    assert set(genders) == {"male", "female", "not_specified", "non_specific"}
    assert genders["female"] > genders["not_specified"] > genders["non_specific"]


def test_loyalty_tiers_are_skewed_and_points_follow_the_tier(profiles: str) -> None:
    rows = _rows(f"""
        select loyalty.tier, count(*), min(loyalty.points), max(loyalty.points)
        from {profiles} where loyalty is not null group by all
    """)
    tiers = {tier: (n, low, high) for tier, n, low, high in rows}
    assert tiers["bronze"][0] > tiers["silver"][0] > tiers["gold"][0] > tiers["platinum"][0]
    assert tiers["bronze"][2] < tiers["silver"][1]
    assert tiers["silver"][2] < tiers["gold"][1]
    assert tiers["gold"][2] < tiers["platinum"][1]
    members = _one(f"select avg((loyalty is not null)::int) from {profiles}")[0]
    assert 0.5 < members < 0.7


def test_event_timestamps_fall_in_the_window_and_favour_recent_days(events: str) -> None:
    earliest, latest, last_month, first_month = _one(f"""
        select min(timestamp), max(timestamp),
               count(*) filter (where timestamp > TIMESTAMP '{NOW}' - INTERVAL 30 DAY),
               count(*) filter (where timestamp < TIMESTAMP '{NOW}' - INTERVAL 370 DAY)
        from {events}
    """)
    assert NOW - timedelta(days=400) < earliest
    assert latest < NOW
    assert last_month > 3 * first_month


def test_aware_now_is_the_same_instant_as_naive_utc(tmp_path: Path) -> None:
    plus_two = datetime(2025, 6, 30, 16, 0, tzinfo=timezone(timedelta(hours=2)))
    aware = generate(tmp_path / "aware", profiles=50, now=plus_two, seed=1)
    naive = generate(tmp_path / "naive", profiles=50, now=datetime(2025, 6, 30, 14, 0), seed=1)
    for a, b in zip(
        aware.profile_files + aware.event_files,
        naive.profile_files + naive.event_files,
        strict=True,
    ):
        assert pq.read_table(a).equals(pq.read_table(b))


def test_event_types_have_realistic_weights(events: str) -> None:
    counts = dict(_rows(f"select eventType, count(*) from {events} group by all"))
    assert set(counts) == set(STANDARD_EVENT_TYPES)
    ranked = sorted(counts, key=counts.__getitem__, reverse=True)
    assert ranked[0] == "web.webpagedetails.pageViews"
    assert counts["commerce.purchases"] < 0.03 * sum(counts.values())


def test_commerce_fields_follow_the_event_type(events: str) -> None:
    bad = _one(f"""
        select
          count(*) filter (where (eventType = 'commerce.purchases') <>
                                 (commerce.order.purchaseID is not null
                                  and commerce.purchases.value = 1)),
          count(*) filter (where eventType = 'commerce.purchases' and
                           abs(commerce.order.priceTotal -
                               list_sum(list_transform(productListItems, lambda i: i.priceTotal)))
                           > 0.011),
          count(*) filter (where (eventType = 'commerce.productViews') <>
                                 coalesce(commerce.productViews.value = 1, false)),
          count(*) filter (where (eventType = 'commerce.productListAdds') <>
                                 coalesce(commerce.productListAdds.value = 1, false)),
          count(*) filter (where (eventType = 'commerce.checkouts') <>
                                 coalesce(commerce.checkouts.value = 1, false)),
          count(*) filter (where (eventType like 'commerce.%') <> (productListItems is not null)),
          count(*) filter (where productListItems is not null
                           and not len(productListItems) between 1 and 3),
          count(*) filter (where (eventType = 'web.webpagedetails.pageViews') <>
                                 (web.webPageDetails.URL is not null)),
          count(*) filter (where commerce.order.priceTotal <> round(commerce.order.priceTotal, 2))
        from {events}
    """)
    assert bad == (0,) * 9
    item = _one(f"""
        select i.SKU, i.name, i.quantity, i.priceTotal, i.currencyCode, i.productCategories
        from (select unnest(productListItems) as i from {events}) limit 1
    """)
    assert all(value is not None for value in item)


def test_events_are_sorted_and_belong_to_the_chunk_profiles(result: GenerateResult) -> None:
    for profile_file, event_file in zip(result.profile_files, result.event_files, strict=True):
        table = pq.read_table(event_file, columns=["__profile_id", "timestamp"])
        keys = list(zip(*(table.column(i).to_pylist() for i in range(2)), strict=True))
        assert keys == sorted(keys)
        orphans = _one(f"""
            select count(*) from read_parquet('{event_file}') e
            anti join read_parquet('{profile_file}') p using (__profile_id)
        """)
        assert orphans == (0,)
        same_identities = _one(f"""
            select bool_and(e.identityMap = p.identityMap)
            from read_parquet('{event_file}') e join read_parquet('{profile_file}') p
            using (__profile_id)
        """)
        assert same_identities == (True,)


def test_activity_is_long_tailed_and_matches_last_activity(profiles: str, events: str) -> None:
    inactive, heaviest = _one(f"""
        select count(*) filter (where n = 0), max(n) from (
          select p.__profile_id, count(e._id) as n
          from {profiles} p left join {events} e using (__profile_id) group by all)
    """)
    assert 0.1 * PROFILES < inactive < 0.4 * PROFILES
    assert heaviest > 8 * 5
    mismatched = _one(f"""
        select count(*) from {profiles} p
        left join (select __profile_id, max(timestamp) as last from {events} group by all) e
        using (__profile_id)
        where p.extSourceSystemAudit.lastActivityDate is distinct from e.last
    """)
    assert mismatched == (0,)


def test_progress_is_reported_per_chunk(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    generate(
        tmp_path,
        profiles=250,
        now=NOW,
        chunk_size=100,
        on_progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(100, 250), (200, 250), (250, 250)]


def test_profiles_without_events(tmp_path: Path) -> None:
    out = generate(tmp_path, profiles=20, now=NOW, events_per_profile=0)
    assert out.event_count == 0
    assert pq.read_table(out.event_files[0]).num_rows == 0
    assert pq.read_schema(out.event_files[0]).equals(event_schema(DEFAULT_SCHEMA))


def test_zero_profiles_write_nothing(tmp_path: Path) -> None:
    out = generate(tmp_path, profiles=0, now=NOW)
    assert (out.profile_files, out.event_files, out.event_count) == ((), (), 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"profiles": -1}, "profiles"),
        ({"profiles": 1, "chunk_size": 0}, "chunk_size"),
        ({"profiles": 1, "events_per_profile": -1.0}, "events_per_profile"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(tmp_path, now=NOW, **kwargs)  # type: ignore[arg-type]
