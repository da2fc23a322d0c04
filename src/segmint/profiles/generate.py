"""Synthetic XDM profiles and experience events at any scale, written as lake Parquet files.

Every column is drawn with numpy and assembled column-wise into Arrow arrays of exactly
``segmint.xdm`` layout; one chunk of profiles (and their events) is held in memory at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from segmint.xdm import DEFAULT_SCHEMA, event_schema, profile_schema
from segmint.xdm.fieldgroups import STANDARD_EVENT_TYPES

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
Chars = npt.NDArray[np.uint8]

PROFILE_SCHEMA = profile_schema(DEFAULT_SCHEMA)
EVENT_SCHEMA = event_schema(DEFAULT_SCHEMA)

US_PER_DAY = 86_400_000_000
EVENT_WINDOW_DAYS = 400
MAX_EVENTS_PER_PROFILE = 5_000  # Adobe does not segment profiles above this (xdm.md §2)

# --- vocabularies -------------------------------------------------------------------------


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FEMALE_NAMES = _words(
    """Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty
    Sandra Margaret Ashley Kimberly Emily Donna Michelle Carol Amanda Melissa Deborah Stephanie
    Dorothy Rebecca Sharon Laura Cynthia Amy Kathleen Angela Shirley Brenda Emma Anna Pamela
    Nicole Samantha Katherine Christine Helen Debra Rachel Carolyn Janet Maria Catherine Heather
    Diane Olivia Julie Joyce Victoria Ruth Virginia Lauren Kelly Christina Joan Evelyn Judith
    Andrea Hannah Megan Cheryl Jacqueline Martha Madison Teresa Gloria Sara Janice Ann Kathryn
    Abigail Sophia Frances Jean Alice Judy Isabella Julia Grace Amber Denise Danielle Marilyn
    Beverly Charlotte Natalie Diana Brittany Chloe Sofia Lucia Yuki Priya Camille Ines"""
)
MALE_NAMES = _words(
    """James Robert John Michael David William Richard Joseph Thomas Christopher Charles Daniel
    Matthew Anthony Mark Donald Steven Andrew Paul Joshua Kenneth Kevin Brian George Timothy
    Ronald Jason Edward Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott
    Brandon Benjamin Samuel Gregory Alexander Patrick Frank Raymond Jack Dennis Jerry Tyler Aaron
    Jose Adam Nathan Henry Zachary Douglas Peter Kyle Noah Ethan Jeremy Walter Christian Keith
    Roger Terry Austin Sean Gerald Carl Harold Dylan Arthur Lawrence Jordan Jesse Bryan Billy
    Bruce Gabriel Joe Logan Alan Juan Albert Elijah Wayne Vincent Mason Roy Ralph Russell Lucas
    Mateo Hiroshi Rahul Luca Felix Pierre Liam Oliver"""
)
LAST_NAMES = _words(
    """Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
    Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris
    Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill
    Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips
    Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers
    Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson
    Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo
    Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell
    Coleman Butler Henderson Barnes Fisher Vasquez Simmons Romero Jordan Patterson Alexander
    Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis
    Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez McDonald
    Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns Crawford
    Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks
    Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice
    Schmidt Schneider Fischer Weber Dubois Laurent Moreau Tanaka Suzuki Sato Sharma Singh Kumar
    Oliveira Souza Costa Wang Zhang Rossi Novak"""
)
STREETS = _words(
    """Main Oak Pine Maple Cedar Elm Washington Lake Hill Park Sunset Lincoln Church Highland
    River Spring Ridge Meadow Forest Mill Market Union Franklin Jefferson Madison Water"""
)
STREET_SUFFIXES = ("St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Way", "Ct")
EMAIL_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "aol.com")
EMAIL_DOMAIN_WEIGHTS = (0.45, 0.15, 0.15, 0.12, 0.08, 0.05)


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    currency: str
    calling_code: str
    usd_rate: float


COUNTRIES = (
    Country("US", "United States", "USD", "1", 1.0),
    Country("CA", "Canada", "CAD", "1", 1.36),
    Country("GB", "United Kingdom", "GBP", "44", 0.79),
    Country("DE", "Germany", "EUR", "49", 0.92),
    Country("FR", "France", "EUR", "33", 0.92),
    Country("JP", "Japan", "JPY", "81", 150.0),
    Country("AU", "Australia", "AUD", "61", 1.52),
    Country("BR", "Brazil", "BRL", "55", 5.0),
    Country("IN", "India", "INR", "91", 83.0),
    Country("MX", "Mexico", "MXN", "52", 17.0),
)
_COUNTRY_INDEX = {c.code: i for i, c in enumerate(COUNTRIES)}

# (city, ISO 3166-2 subdivision, postal code, country code, relative weight)
CITIES = (
    ("New York", "US-NY", "10001", "US", 84),
    ("Los Angeles", "US-CA", "90012", "US", 39),
    ("Chicago", "US-IL", "60601", "US", 27),
    ("Houston", "US-TX", "77002", "US", 23),
    ("Phoenix", "US-AZ", "85004", "US", 16),
    ("Philadelphia", "US-PA", "19103", "US", 16),
    ("San Antonio", "US-TX", "78205", "US", 15),
    ("San Diego", "US-CA", "92101", "US", 14),
    ("Dallas", "US-TX", "75201", "US", 13),
    ("San Jose", "US-CA", "95110", "US", 10),
    ("Austin", "US-TX", "78701", "US", 10),
    ("Jacksonville", "US-FL", "32202", "US", 9),
    ("Columbus", "US-OH", "43215", "US", 9),
    ("Charlotte", "US-NC", "28202", "US", 9),
    ("San Francisco", "US-CA", "94103", "US", 8),
    ("Indianapolis", "US-IN", "46204", "US", 9),
    ("Seattle", "US-WA", "98101", "US", 8),
    ("Denver", "US-CO", "80202", "US", 7),
    ("Boston", "US-MA", "02108", "US", 7),
    ("Nashville", "US-TN", "37203", "US", 7),
    ("Portland", "US-OR", "97204", "US", 6),
    ("Las Vegas", "US-NV", "89101", "US", 6),
    ("Detroit", "US-MI", "48226", "US", 6),
    ("Atlanta", "US-GA", "30303", "US", 5),
    ("Miami", "US-FL", "33130", "US", 5),
    ("Minneapolis", "US-MN", "55401", "US", 4),
    ("Toronto", "CA-ON", "M5H 2N2", "CA", 14),
    ("Montreal", "CA-QC", "H2Y 1C6", "CA", 9),
    ("Vancouver", "CA-BC", "V6B 1A1", "CA", 6),
    ("Calgary", "CA-AB", "T2P 1J9", "CA", 5),
    ("Ottawa", "CA-ON", "K1P 1J1", "CA", 4),
    ("London", "GB-LND", "EC1A 1BB", "GB", 24),
    ("Manchester", "GB-MAN", "M1 1AE", "GB", 6),
    ("Birmingham", "GB-BIR", "B1 1AA", "GB", 6),
    ("Glasgow", "GB-GLG", "G1 1XQ", "GB", 4),
    ("Edinburgh", "GB-EDH", "EH1 1YZ", "GB", 3),
    ("Berlin", "DE-BE", "10117", "DE", 10),
    ("Hamburg", "DE-HH", "20095", "DE", 5),
    ("München", "DE-BY", "80331", "DE", 4),
    ("Köln", "DE-NW", "50667", "DE", 3),
    ("Frankfurt am Main", "DE-HE", "60311", "DE", 3),
    ("Paris", "FR-IDF", "75001", "FR", 10),
    ("Lyon", "FR-ARA", "69001", "FR", 3),
    ("Marseille", "FR-PAC", "13001", "FR", 3),
    ("Toulouse", "FR-OCC", "31000", "FR", 2),
    ("Tokyo", "JP-13", "100-0001", "JP", 9),
    ("Osaka", "JP-27", "530-0001", "JP", 4),
    ("Yokohama", "JP-14", "220-0011", "JP", 3),
    ("Sydney", "AU-NSW", "2000", "AU", 6),
    ("Melbourne", "AU-VIC", "3000", "AU", 5),
    ("Brisbane", "AU-QLD", "4000", "AU", 3),
    ("Perth", "AU-WA", "6000", "AU", 2),
    ("São Paulo", "BR-SP", "01001-000", "BR", 6),
    ("Rio de Janeiro", "BR-RJ", "20010-000", "BR", 4),
    ("Belo Horizonte", "BR-MG", "30130-000", "BR", 2),
    ("Mumbai", "IN-MH", "400001", "IN", 5),
    ("New Delhi", "IN-DL", "110001", "IN", 5),
    ("Bengaluru", "IN-KA", "560001", "IN", 4),
    ("Ciudad de México", "MX-CMX", "06000", "MX", 5),
    ("Guadalajara", "MX-JAL", "44100", "MX", 2),
    ("Monterrey", "MX-NLE", "64000", "MX", 2),
)

# (name, category, price in USD)
PRODUCTS = (
    ("Classic Crew T-Shirt", "apparel", 19.99),
    ("Slim Fit Jeans", "apparel", 59.5),
    ("Merino Wool Sweater", "apparel", 89.0),
    ("Rain Jacket", "apparel", 129.0),
    ("Linen Summer Dress", "apparel", 74.95),
    ("Hooded Sweatshirt", "apparel", 45.0),
    ("Everyday Running Shoe", "footwear", 110.0),
    ("Leather Chelsea Boot", "footwear", 179.0),
    ("Canvas Sneaker", "footwear", 55.0),
    ("Trail Hiking Boot", "footwear", 149.99),
    ("Wireless Earbuds", "electronics", 129.99),
    ("Noise Cancelling Headphones", "electronics", 299.0),
    ("Smart Watch", "electronics", 249.0),
    ("Bluetooth Speaker", "electronics", 79.99),
    ("USB-C Charger 65W", "electronics", 39.99),
    ("4K Streaming Stick", "electronics", 49.99),
    ("Fitness Tracker", "electronics", 99.95),
    ("Cotton Bath Towel Set", "home", 49.0),
    ("Ceramic Dinner Plates", "home", 64.0),
    ("Cast Iron Skillet", "home", 34.95),
    ("LED Bath Light", "home", 159.0),
    ("Memory Foam Pillow", "home", 59.99),
    ("French Press Coffee Maker", "home", 29.99),
    ("Scented Soy Candle", "home", 18.5),
    ("Vitamin C Serum", "beauty", 32.0),
    ("Hydrating Face Cream", "beauty", 28.0),
    ("Matte Lipstick", "beauty", 16.0),
    ("Eau de Parfum 50ml", "beauty", 85.0),
    ("Yoga Mat", "sports", 39.0),
    ("Adjustable Dumbbells", "sports", 219.0),
    ("Insulated Water Bottle", "sports", 24.95),
    ("Road Bike Helmet", "sports", 69.99),
    ("Bestselling Thriller Novel", "books", 14.99),
    ("Illustrated Cookbook", "books", 29.95),
    ("Travel Guide: Japan", "books", 22.0),
    ("Building Blocks Set", "toys", 49.99),
    ("Wooden Puzzle", "toys", 19.0),
    ("Remote Control Car", "toys", 59.0),
    ("Plush Teddy Bear", "toys", 24.0),
    ("Board Game Classic", "toys", 34.99),
)

# (page name, path, site section, is home page, relative weight)
PAGES = (
    ("Home", "/", "home", True, 20),
    ("Women", "/women", "category", False, 8),
    ("Men", "/men", "category", False, 7),
    ("Electronics", "/electronics", "category", False, 7),
    ("Home & Garden", "/home-garden", "category", False, 5),
    ("Sale", "/sale", "promotions", False, 8),
    ("Search results", "/search", "search", False, 10),
    ("Product detail", "/products/detail", "product", False, 15),
    ("Cart", "/cart", "checkout", False, 5),
    ("Checkout", "/checkout", "checkout", False, 2),
    ("My account", "/account", "account", False, 3),
    ("Sign in", "/account/sign-in", "account", False, 3),
    ("Store locator", "/stores", "support", False, 2),
    ("Help center", "/help", "support", False, 2),
    ("Blog", "/blog", "content", False, 3),
)
SITE = "https://shop.example.com"
# (webReferrer.type, URL, weight)
REFERRERS = (
    ("search_engine", "https://www.google.com/", 45),
    ("search_engine", "https://www.bing.com/", 8),
    ("social", "https://www.instagram.com/", 12),
    ("social", "https://www.facebook.com/", 10),
    ("email", "https://mail.example.net/", 10),
    ("external", "https://www.reddit.com/", 8),
    ("typed_bookmarked", "", 7),
)
# (webInteraction.type, link name, URL, weight)
LINKS = (
    ("other", "Hero banner", SITE + "/sale", 35),
    ("other", "Newsletter sign-up", SITE + "/newsletter", 20),
    ("exit", "Instagram", "https://www.instagram.com/", 15),
    ("exit", "Customer reviews", "https://www.trustpilot.com/", 10),
    ("download", "Size guide PDF", SITE + "/docs/size-guide.pdf", 12),
    ("download", "Catalogue PDF", SITE + "/docs/catalogue.pdf", 8),
)
# (device.type, manufacturer, model, browser, weight)
DEVICES = (
    ("mobile", "Apple", "iPhone 15", "Safari", 20),
    ("mobile", "Apple", "iPhone 13", "Safari", 12),
    ("mobile", "Samsung", "Galaxy S24", "Chrome", 12),
    ("mobile", "Google", "Pixel 8", "Chrome", 6),
    ("mobile", "Motorola", "Moto G Power", "Chrome", 4),
    ("tablet", "Apple", "iPad Air", "Safari", 6),
    ("tablet", "Samsung", "Galaxy Tab S9", "Chrome", 3),
    ("desktop", "Apple", "MacBook Pro", "Safari", 10),
    ("desktop", "Apple", "iMac", "Chrome", 4),
    ("desktop", "Dell", "XPS 13", "Chrome", 9),
    ("desktop", "Lenovo", "ThinkPad X1 Carbon", "Edge", 8),
    ("desktop", "HP", "Pavilion", "Firefox", 6),
)
EVENT_TYPE_WEIGHTS: Mapping[str, float] = {
    "web.webpagedetails.pageViews": 0.45,
    "web.webinteraction.linkClicks": 0.08,
    "commerce.productViews": 0.18,
    "commerce.productListAdds": 0.06,
    "commerce.productListRemovals": 0.02,
    "commerce.checkouts": 0.025,
    "commerce.purchases": 0.015,
    "application.launch": 0.08,
    "directMarketing.emailOpened": 0.07,
    "directMarketing.emailClicked": 0.02,
}
GENDERS = ("male", "female", "not_specified", "non_specific")
GENDER_WEIGHTS = (0.47, 0.49, 0.03, 0.01)
MARITAL_STATUSES = ("married", "single", "divorced", "widowed", "not_specified")
MARITAL_WEIGHTS = (0.48, 0.33, 0.1, 0.05, 0.04)
TIERS = ("bronze", "silver", "gold", "platinum")
TIER_WEIGHTS = (0.55, 0.28, 0.13, 0.04)
TIER_POINTS = ((0, 1_000), (1_000, 5_000), (5_000, 20_000), (20_000, 100_000))

SHARE_WITH_EMAIL = 0.85
SHARE_WITH_PHONE = 0.75
SHARE_WITH_LOYALTY = 0.6
SHARE_WITH_WORK_ADDRESS = 0.62
SHARE_WORKING_IN_HOME_CITY = 0.7
SHARE_HEAVY_USERS = 0.002
HEAVY_USER_FACTOR = 25.0
ACTIVITY_SHAPE = 0.6  # gamma shape of per-profile activity: low = long tail, many inactive
RECENCY_SCALE_DAYS = 150.0
SHARE_WITH_DEVICE = 0.7
SHARE_WITH_REFERRER = 0.35


@dataclass(frozen=True)
class GenerateResult:
    profile_files: tuple[Path, ...]
    event_files: tuple[Path, ...]
    profile_count: int
    event_count: int


def generate(
    out_dir: Path,
    *,
    profiles: int,
    seed: int = 42,
    events_per_profile: float = 10.0,
    now: datetime,
    chunk_size: int = 100_000,
    on_progress: Callable[[int, int], None] | None = None,
) -> GenerateResult:
    """Write ``profiles`` synthetic profiles and their events under ``out_dir``.

    One ``profiles/part-NNNNN.parquet`` and one ``events/part-NNNNN.parquet`` per chunk of
    ``chunk_size`` profiles. Output is identical for the same seed and chunk size.
    ``on_progress(profiles_written, profiles)`` is called after each chunk.
    """
    _check_arguments(profiles, events_per_profile, chunk_size)
    clock = _Clock.at(now)
    for sub in ("profiles", "events"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    files: list[tuple[Path, Path]] = []
    event_count = 0
    # Parquet encoding releases the GIL: chunk i is written on other threads while chunk i+1
    # is drawn, and at most two chunks are alive at once.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="segmint-generate") as pool:
        pending: list[Future[None]] = []
        for index, start in enumerate(range(0, profiles, chunk_size)):
            size = min(chunk_size, profiles - start)
            people, events = _chunk(
                np.random.default_rng([seed, index]),
                start,
                size,
                events_per_profile,
                clock,
                event_count,
            )
            paths = (
                out_dir / "profiles" / f"part-{index:05d}.parquet",
                out_dir / "events" / f"part-{index:05d}.parquet",
            )
            _finish(pending, on_progress, start, profiles)
            pending = [
                pool.submit(pq.write_table, people, paths[0]),
                pool.submit(pq.write_table, events, paths[1]),
            ]
            files.append(paths)
            event_count += events.num_rows
        _finish(pending, on_progress, profiles, profiles)
    return GenerateResult(
        profile_files=tuple(p for p, _ in files),
        event_files=tuple(e for _, e in files),
        profile_count=profiles,
        event_count=event_count,
    )


def _chunk(
    rng: np.random.Generator, start: int, size: int, mean: float, clock: _Clock, offset: int
) -> tuple[pa.Table, pa.Table]:
    """The profile and event tables of one chunk; event ``_id`` sequence numbers start at
    ``offset``."""
    people = _people(rng, start, size, clock)
    events, last_activity = _events(rng, people, mean, clock, offset)
    return _profile_table(people, last_activity), events


def _finish(
    pending: list[Future[None]],
    on_progress: Callable[[int, int], None] | None,
    done: int,
    total: int,
) -> None:
    for future in pending:
        future.result()
    if pending and on_progress is not None:
        on_progress(done, total)


def _check_arguments(profiles: int, events_per_profile: float, chunk_size: int) -> None:
    if profiles < 0:
        raise ValueError(f"profiles must be >= 0, got {profiles}")
    if not events_per_profile >= 0:
        raise ValueError(f"events_per_profile must be >= 0, got {events_per_profile}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")


@dataclass(frozen=True)
class _Clock:
    now_us: int  # microseconds since the epoch, UTC
    today: int  # days since the epoch, UTC

    @staticmethod
    def at(now: datetime) -> _Clock:
        """Naive datetimes are taken as UTC, like every timestamp in the lake."""
        aware = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
        delta = aware - datetime(1970, 1, 1, tzinfo=UTC)
        now_us = delta // timedelta(microseconds=1)
        return _Clock(now_us=now_us, today=now_us // US_PER_DAY)

    def days_ago(self, days: Floats) -> Ints:
        """Timestamps (µs) ``days`` before now."""
        return self.now_us - (days * US_PER_DAY).astype(np.int64)


# --- string and array helpers ---------------------------------------------------------------

_HEX_DIGITS: Chars = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _ascii(chars: Chars) -> pa.Array:
    """A string array from an (n, width) matrix of ASCII codes, one row per string."""
    n, width = chars.shape
    if n * width >= 2**31:
        raise ValueError("chunk too large for one string array; lower chunk_size")
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(width)
    data = pa.py_buffer(np.ascontiguousarray(chars).tobytes())
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), data])


def _decimal_chars(values: Ints, width: int) -> Chars:
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers % 10 + ord("0")).astype(np.uint8)


def _hex_chars(values: Ints, width: int) -> Chars:
    shifts = 4 * np.arange(width - 1, -1, -1, dtype=np.int64)
    chars: Chars = _HEX_DIGITS[(values[:, None] >> shifts) & 15]
    return chars


def _literal(text: str, n: int) -> Chars:
    return np.tile(np.frombuffer(text.encode(), dtype=np.uint8), (n, 1))


def _record_ids(rng: np.random.Generator, sequence: Ints) -> pa.Array:
    """UUID-v4-shaped ids whose last 12 hex digits are ``sequence``: unique in a dataset."""
    n = len(sequence)
    random_bytes = np.frombuffer(rng.bytes(9 * n), dtype=np.uint8).reshape(n, 9)
    rand = _HEX_DIGITS[np.hstack([random_bytes >> 4, random_bytes & 15])]
    variant = _HEX_DIGITS[8 + (random_bytes[:, :1] & 3)]
    dash = _literal("-", n)
    parts = (rand[:, :8], dash, rand[:, 8:12], dash, _literal("4", n), rand[:, 12:15], dash)
    tail = (variant, rand[:, 15:18], dash, _hex_chars(sequence, 12))
    return _ascii(np.hstack(parts + tail))


def _concat(*parts: Any) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _weights(values: tuple[float, ...] | list[float]) -> Floats:
    w: Floats = np.asarray(values, dtype=np.float64)
    return w / float(w.sum())


def _zipf(k: int, exponent: float = 0.9) -> Floats:
    return _weights(list(1.0 / np.arange(1, k + 1) ** exponent))


def _choose(rng: np.random.Generator, p: Floats, n: int) -> Ints:
    """Indices drawn with probabilities ``p`` (inverse CDF: much faster than rng.choice)."""
    cdf = np.cumsum(p)
    index: Ints = np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right")
    return np.minimum(index, len(p) - 1)


def _scatter(values: pa.Array, present: Bools) -> pa.Array:
    """Spread ``values`` (one per True in ``present``) over all rows, null elsewhere."""
    if len(values) == 0:
        return pa.nulls(len(present), values.type)
    return _take(values, np.maximum(np.cumsum(present) - 1, 0), present)


def _take(values: pa.Array, index: Ints, present: Bools | None = None) -> pa.Array:
    """``values.take(index)``, null where ``present`` is False.

    Arrow's own take is several times slower on structs (and so on lists and maps of
    structs), so nested arrays are taken level by level.
    """
    if values.null_count == len(values):
        return pa.nulls(len(index), values.type)
    valid = values.is_valid().to_numpy(zero_copy_only=False)[index]
    if present is not None:
        valid &= present
    mask = None if valid.all() else pa.array(~valid)
    if pa.types.is_struct(values.type):
        children = [_take(values.field(i), index) for i in range(values.type.num_fields)]
        return pa.StructArray.from_arrays(children, fields=list(values.type), mask=mask)
    if pa.types.is_list(values.type) or pa.types.is_map(values.type):
        return _take_lists(values, index, valid, mask)
    return values.take(pa.array(index, mask=None if mask is None else ~valid))


def _take_lists(values: pa.Array, index: Ints, valid: Bools, mask: pa.Array | None) -> pa.Array:
    bounds = values.offsets.to_numpy()
    start = bounds[index]
    length = np.where(valid, bounds[index + 1] - start, 0)
    offsets = np.concatenate([[0], np.cumsum(length)]).astype(np.int32)
    element = np.repeat(start - offsets[:-1], length) + np.arange(offsets[-1])
    if pa.types.is_map(values.type):
        entries = values.values
        keys, items = _take(entries.field(0), element), _take(entries.field(1), element)
        return pa.MapArray.from_arrays(offsets, keys, items, type=values.type, mask=mask)
    items = _take(values.values, element)
    return pa.ListArray.from_arrays(offsets, items, type=values.type, mask=mask)


def _column(value: Any, arrow_type: pa.DataType, n: int) -> pa.Array:
    if value is None:
        return pa.nulls(n, arrow_type)
    if isinstance(value, pa.Array):
        return value if value.type == arrow_type else value.cast(arrow_type)
    return pa.array(value, type=arrow_type)


def _struct(
    arrow_type: pa.StructType, n: int, values: Mapping[str, Any], valid: Bools | None = None
) -> pa.StructArray:
    """A struct array of exactly ``arrow_type``; fields not in ``values`` are null."""
    arrays = [_column(values.get(f.name), f.type, n) for f in arrow_type]
    mask = None if valid is None else pa.array(~valid)
    return pa.StructArray.from_arrays(arrays, fields=list(arrow_type), mask=mask)


def _table(schema: pa.Schema, n: int, values: Mapping[str, Any]) -> pa.Table:
    arrays = [_column(values.get(f.name), f.type, n) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def _type(root: pa.Schema, path: str) -> pa.DataType:
    first, *rest = path.split(".")
    arrow_type = root.field(first).type
    for name in rest:
        arrow_type = arrow_type.field(name).type
    return arrow_type


def _timestamps(micros: Ints) -> pa.Array:
    return pa.array(micros.astype("datetime64[us]"))


def _measure(arrow_type: pa.StructType, present: Bools) -> pa.StructArray:
    n = len(present)
    return _struct(arrow_type, n, {"value": np.ones(n)}, present)


def _constant(value: Any, n: int) -> pa.Array:
    return pa.repeat(value, n)


def _vocab(values: tuple[Any, ...] | list[Any]) -> pa.Array:
    return pa.array(values)


# --- profiles --------------------------------------------------------------------------------

_FIRST_NAMES = FEMALE_NAMES + MALE_NAMES
_CITY_COUNTRY = np.array([_COUNTRY_INDEX[c[3]] for c in CITIES], dtype=np.int64)
_CITY_WEIGHTS = _weights([c[4] for c in CITIES])


@dataclass(frozen=True)
class _People:
    """One chunk of profiles, in ``__profile_id`` order, plus what their events need."""

    size: int
    columns: dict[str, Any]
    audit: dict[str, Ints]
    profile_id: pa.Array
    identity_map: pa.Array
    country: Ints
    device: Ints


def _people(rng: np.random.Generator, start: int, size: int, clock: _Clock) -> _People:
    index, ecid = _ecids(rng, start, size)
    names = _names(rng, size)
    home_city = _choose(rng, _CITY_WEIGHTS, size)
    email = _emails(rng, names, index)
    columns: dict[str, Any] = {
        "_id": _record_ids(rng, index),
        "person": _person(rng, names, clock),
        "homeAddress": _address(rng, home_city, np.ones(size, dtype=bool)),
        "workAddress": _work_address(rng, home_city),
        "personalEmail": _struct(
            _type(PROFILE_SCHEMA, "personalEmail"),
            size,
            {
                "address": email,
                "primary": _constant(True, size),
                "type": _constant("personal", size),
            },
            email.is_valid().to_numpy(zero_copy_only=False),
        ),
        "mobilePhone": _phone(rng, _CITY_COUNTRY[home_city]),
        "loyalty": _loyalty(rng, size, clock),
    }
    prefix = _literal("ECID:", size)
    return _People(
        size=size,
        columns=columns,
        audit=_audit_dates(rng, size, clock),
        profile_id=_ascii(np.hstack([prefix, ecid])),
        identity_map=_identity_map(_ascii(ecid), email),
        country=_CITY_COUNTRY[home_city],
        device=_choose(rng, _weights([d[4] for d in DEVICES]), size),
    )


def _ecids(rng: np.random.Generator, start: int, size: int) -> tuple[Ints, Chars]:
    """Global profile indices and their 38-digit ECIDs, both sorted by ECID.

    The last 12 digits are a bijection of the profile index (multiplication by a unit modulo
    10^12), so ECIDs are unique; the first 26 are random.
    """
    index = np.arange(start, start + size, dtype=np.int64)
    high, middle, low = _ecid_parts(rng, index)
    order = np.lexsort((low, middle, high))
    return index[order], _ecid_chars(high[order], middle[order], low[order])


def _ecid_parts(rng: np.random.Generator, keys: Ints) -> tuple[Ints, Ints, Ints]:
    """The 13 + 13 + 12 digit groups of the ECIDs of ``keys`` (distinct keys below 10^12
    give distinct ECIDs)."""
    high = rng.integers(10**12, 10**13, size=len(keys), dtype=np.int64)
    middle = rng.integers(0, 10**13, size=len(keys), dtype=np.int64)
    return high, middle, (keys * 7_919_357 + 104_729) % 10**12


def _ecid_chars(high: Ints, middle: Ints, low: Ints) -> Chars:
    digits = (_decimal_chars(high, 13), _decimal_chars(middle, 13), _decimal_chars(low, 12))
    return np.hstack(digits)


@dataclass(frozen=True)
class _Names:
    gender: Ints
    first: Ints
    last: Ints


def _names(rng: np.random.Generator, size: int) -> _Names:
    gender = _choose(rng, _weights(GENDER_WEIGHTS), size)
    female = _choose(rng, _zipf(len(FEMALE_NAMES)), size)
    male = len(FEMALE_NAMES) + _choose(rng, _zipf(len(MALE_NAMES)), size)
    either = rng.integers(0, len(FEMALE_NAMES) + len(MALE_NAMES), size=size)
    first = np.where(gender == 0, male, np.where(gender == 1, female, either))
    return _Names(gender=gender, first=first, last=_choose(rng, _zipf(len(LAST_NAMES)), size))


def _person(rng: np.random.Generator, names: _Names, clock: _Clock) -> pa.StructArray:
    size = len(names.first)
    first, last = _vocab(_FIRST_NAMES).take(names.first), _vocab(LAST_NAMES).take(names.last)
    age_years = np.clip(rng.normal(42.0, 16.0, size), 18.01, 90.99)
    birth = (clock.today - (age_years * 365.2425).astype(np.int64)).astype("datetime64[D]")
    month_day = (birth - birth.astype("datetime64[M]")).astype(np.int64) + 1
    month = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day_and_month = np.hstack(
        [_decimal_chars(month, 2), _literal("-", size), _decimal_chars(month_day, 2)]
    )
    person_type = _type(PROFILE_SCHEMA, "person")
    name = _struct(
        person_type.field("name").type,
        size,
        {
            "firstName": first,
            "lastName": last,
            "fullName": _concat(first, " ", last),
        },
    )
    return _struct(
        person_type,
        size,
        {
            "name": name,
            "birthDate": pa.array(birth),
            "birthDayAndMonth": _ascii(day_and_month),
            "birthYear": birth.astype("datetime64[Y]").astype(np.int64) + 1970,
            "gender": _vocab(GENDERS).take(names.gender),
            "maritalStatus": _vocab(MARITAL_STATUSES).take(
                _choose(rng, _weights(MARITAL_WEIGHTS), size)
            ),
        },
    )


def _address(rng: np.random.Generator, city: Ints, valid: Bools) -> pa.StructArray:
    size = len(city)
    number = pc.cast(pa.array(rng.integers(1, 9_999, size=size)), pa.string())
    street = _vocab(STREETS).take(rng.integers(0, len(STREETS), size=size))
    suffix = _vocab(STREET_SUFFIXES).take(rng.integers(0, len(STREET_SUFFIXES), size=size))
    country = _CITY_COUNTRY[city]
    return _struct(
        _type(PROFILE_SCHEMA, "homeAddress"),
        size,
        {
            "street1": _concat(number, " ", street, " ", suffix),
            "city": _vocab([c[0] for c in CITIES]).take(city),
            "stateProvince": _vocab([c[1] for c in CITIES]).take(city),
            "postalCode": _vocab([c[2] for c in CITIES]).take(city),
            "country": _vocab([c.name for c in COUNTRIES]).take(country),
            "countryCode": _vocab([c.code for c in COUNTRIES]).take(country),
        },
        valid,
    )


def _work_address(rng: np.random.Generator, home_city: Ints) -> pa.StructArray:
    """Null for people without a work address; else often the home city, else another city
    of the same country."""
    size = len(home_city)
    has_work = rng.random(size) < SHARE_WITH_WORK_ADDRESS
    same_city = rng.random(size) < SHARE_WORKING_IN_HOME_CITY
    other_city = _city_in_country(rng, _CITY_COUNTRY[home_city])
    return _address(rng, np.where(same_city, home_city, other_city), has_work)


def _city_in_country(rng: np.random.Generator, country: Ints) -> Ints:
    by_country = np.argsort(_CITY_COUNTRY, kind="stable")
    first = np.searchsorted(_CITY_COUNTRY[by_country], np.arange(len(COUNTRIES)))
    count = np.bincount(_CITY_COUNTRY, minlength=len(COUNTRIES))
    pick = first[country] + (rng.random(len(country)) * count[country]).astype(np.int64)
    return by_country[pick]


def _emails(rng: np.random.Generator, names: _Names, index: Ints) -> pa.Array:
    """``first.last<index>@domain`` (unique through the index), null for people without one."""
    size = len(index)
    has_email = rng.random(size) < SHARE_WITH_EMAIL
    domain = _vocab(EMAIL_DOMAINS).take(_choose(rng, _weights(EMAIL_DOMAIN_WEIGHTS), size))
    address = _concat(
        _vocab([n.lower() for n in _FIRST_NAMES]).take(names.first),
        ".",
        _vocab([n.lower() for n in LAST_NAMES]).take(names.last),
        pc.cast(pa.array(index), pa.string()),
        "@",
        domain,
    )
    return pc.if_else(pa.array(has_email), address, pa.scalar(None, pa.string()))


def _phone(rng: np.random.Generator, country: Ints) -> pa.StructArray:
    size = len(country)
    has_phone = rng.random(size) < SHARE_WITH_PHONE
    calling_code = _vocab([c.calling_code for c in COUNTRIES]).take(country)
    subscriber = _ascii(_decimal_chars(rng.integers(2 * 10**9, 10**10, size=size), 10))
    return _struct(
        _type(PROFILE_SCHEMA, "mobilePhone"),
        size,
        {
            "number": _concat("+", calling_code, subscriber),
            "countryCode": calling_code,
        },
        has_phone,
    )


def _loyalty(rng: np.random.Generator, size: int, clock: _Clock) -> pa.StructArray:
    member = rng.random(size) < SHARE_WITH_LOYALTY
    return _loyalty_details(rng, clock, member)


def _loyalty_details(rng: np.random.Generator, clock: _Clock, member: Bools) -> pa.StructArray:
    """Tier, points and program details for every row, null where ``member`` is False."""
    size = len(member)
    tier = _choose(rng, _weights(TIER_WEIGHTS), size)
    low, high = (np.array(bound, dtype=np.int64)[tier] for bound in zip(*TIER_POINTS, strict=True))
    points = low + ((high - low) * rng.beta(1.2, 3.0, size)).astype(np.int64)
    redeemed = (points * rng.random(size) * 0.8).astype(np.int64)
    top = tier == len(TIERS) - 1
    next_tier = _vocab([*TIERS[1:], None]).take(tier)
    status = np.where(rng.random(size) < 0.92, "active", "inactive")
    return _struct(
        _type(PROFILE_SCHEMA, "loyalty"),
        size,
        {
            "tier": _vocab(TIERS).take(tier),
            "points": points,
            "status": status,
            "program": _constant("Segmint Rewards", size),
            "joinDate": _timestamps(clock.days_ago(rng.uniform(30, 8 * 365, size))),
            "lifetimePoints": points + redeemed,
            "pointsRedeemed": redeemed,
            "nextTier": next_tier,
            "pointsToNextTier": pa.array(high - points, mask=top),
        },
        member,
    )


def _audit_dates(rng: np.random.Generator, size: int, clock: _Clock) -> dict[str, Ints]:
    """Created up to 5 years ago, last updated since then (recent more likely). The struct is
    built in ``_profile_table`` once ``lastActivityDate`` is known from the events."""
    created_days = rng.uniform(1, 5 * 365, size)
    updated_days = created_days * rng.beta(1.0, 4.0, size)
    return {
        "createdDate": clock.days_ago(created_days),
        "lastUpdatedDate": clock.days_ago(updated_days),
    }


def _identity_map(ecid: pa.Array, email: pa.Array) -> pa.MapArray:
    """``{"ECID": [{id, ambiguous, primary}], "Email": [{id, authenticated}]}`` per profile."""
    size = len(ecid)
    has_email = email.is_valid().to_numpy(zero_copy_only=False)
    per_profile = 1 + has_email.astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(per_profile)]).astype(np.int32)
    is_email = np.zeros(offsets[-1], dtype=bool)
    is_email[offsets[:-1][has_email] + 1] = True
    ecid_at = np.cumsum(~is_email) - 1
    email_at = size + np.flatnonzero(has_email)[np.cumsum(is_email) - 1]
    source = np.where(is_email, email_at, ecid_at)
    item_type = _type(PROFILE_SCHEMA, "identityMap").item_type.value_type
    items = _struct(
        item_type,
        len(source),
        {
            "id": pa.concat_arrays([ecid, email]).take(source),
            "authenticatedState": _vocab(["ambiguous", "authenticated"]).take(
                is_email.astype(np.int64)
            ),
            "primary": ~is_email,
        },
    )
    lists = pa.ListArray.from_arrays(np.arange(len(source) + 1, dtype=np.int32), items)
    keys = _vocab(["ECID", "Email"]).take(is_email.astype(np.int64))
    return pa.MapArray.from_arrays(offsets, keys, lists, type=_type(PROFILE_SCHEMA, "identityMap"))


def _profile_table(people: _People, last_activity: pa.Array) -> pa.Table:
    dates = {name: _timestamps(micros) for name, micros in people.audit.items()}
    audit_type = _type(PROFILE_SCHEMA, "extSourceSystemAudit")
    columns = {
        **people.columns,
        "__profile_id": people.profile_id,
        "identityMap": people.identity_map,
        "extSourceSystemAudit": _struct(
            audit_type, people.size, {**dates, "lastActivityDate": last_activity}
        ),
    }
    return _table(PROFILE_SCHEMA, people.size, columns)


# --- events ----------------------------------------------------------------------------------

_EVENT_TYPES = tuple(EVENT_TYPE_WEIGHTS)
if set(_EVENT_TYPES) != set(STANDARD_EVENT_TYPES):
    raise RuntimeError("EVENT_TYPE_WEIGHTS must cover exactly STANDARD_EVENT_TYPES")
_KIND = {name: code for code, name in enumerate(_EVENT_TYPES)}
_PAGE_VIEW = _KIND["web.webpagedetails.pageViews"]
_LINK_CLICK = _KIND["web.webinteraction.linkClicks"]
_PRODUCT_VIEW = _KIND["commerce.productViews"]
_LIST_ADD = _KIND["commerce.productListAdds"]
_LIST_REMOVE = _KIND["commerce.productListRemovals"]
_CHECKOUT = _KIND["commerce.checkouts"]
_PURCHASE = _KIND["commerce.purchases"]
_APP_LAUNCH = _KIND["application.launch"]
_EMAIL_KINDS = tuple(code for name, code in _KIND.items() if name.startswith("directMarketing."))
_COMMERCE_TYPES = (_PRODUCT_VIEW, _LIST_ADD, _LIST_REMOVE, _CHECKOUT, _PURCHASE)
_MEASURES = {
    "productViews": _PRODUCT_VIEW,
    "productListAdds": _LIST_ADD,
    "productListRemovals": _LIST_REMOVE,
    "checkouts": _CHECKOUT,
    "purchases": _PURCHASE,
}


@dataclass(frozen=True)
class _Events:
    """Per-event draws shared by the column builders; ``profile`` indexes the chunk's people."""

    profile: Ints
    kind: Ints
    country: Ints


def _events(
    rng: np.random.Generator, people: _People, mean: float, clock: _Clock, offset: int
) -> tuple[pa.Table, pa.Array]:
    """The chunk's events sorted by (``__profile_id``, ``timestamp``), and each profile's last
    event time (null without events)."""
    counts = _event_counts(rng, people.size, mean)
    profile = np.repeat(np.arange(people.size), counts)
    total = len(profile)
    timestamp = _event_times(rng, total, clock)
    timestamp = timestamp[np.lexsort((timestamp, profile))]
    events = _Events(
        profile,
        _choose(rng, _weights(list(EVENT_TYPE_WEIGHTS.values())), total),
        people.country[profile],
    )
    columns = {
        "__profile_id": _take(people.profile_id, profile),
        "_id": _record_ids(rng, np.arange(offset, offset + total, dtype=np.int64)),
        "timestamp": _timestamps(timestamp),
        "eventType": _vocab(_EVENT_TYPES).take(events.kind),
        "identityMap": _take(people.identity_map, profile),
        **_commerce_columns(rng, events),
        "web": _web(rng, events.kind),
        **_device_columns(rng, events, people.device),
    }
    has_events = counts > 0
    last = _timestamps(timestamp[np.cumsum(counts)[has_events] - 1])
    return _table(EVENT_SCHEMA, total, columns), _scatter(last, has_events)


def _event_counts(rng: np.random.Generator, size: int, mean: float) -> Ints:
    """Gamma-Poisson (negative binomial) counts with mean ``mean``: many profiles without
    events, a long tail, and a few heavy users."""
    heavy = rng.random(size) < SHARE_HEAVY_USERS
    boost = np.where(heavy, HEAVY_USER_FACTOR, 1.0)
    scale = mean / ACTIVITY_SHAPE / (1 + SHARE_HEAVY_USERS * (HEAVY_USER_FACTOR - 1))
    rate = rng.gamma(ACTIVITY_SHAPE, scale, size) * boost
    return np.minimum(rng.poisson(rate), MAX_EVENTS_PER_PROFILE).astype(np.int64)


def _event_times(rng: np.random.Generator, total: int, clock: _Clock) -> Ints:
    """Times in the window before now, truncated-exponential in age: recent is more frequent."""
    window = EVENT_WINDOW_DAYS * US_PER_DAY
    tail = -np.expm1(-EVENT_WINDOW_DAYS / RECENCY_SCALE_DAYS)
    age_days = -RECENCY_SCALE_DAYS * np.log1p(-rng.random(total) * tail)
    age_us: Ints = np.clip((age_days * US_PER_DAY).astype(np.int64), 1, window - 1)
    return clock.now_us - age_us


def _commerce_columns(rng: np.random.Generator, events: _Events) -> dict[str, pa.Array]:
    """``commerce`` and ``productListItems`` on commerce events, null on the others."""
    kind = events.kind
    is_commerce = np.isin(kind, _COMMERCE_TYPES)
    currency = _COUNTRY_CURRENCY[events.country]
    items, totals = _product_items(rng, kind, is_commerce, currency)
    commerce_type = _type(EVENT_SCHEMA, "commerce")
    measures = {
        name: _measure(commerce_type.field(name).type, kind == code)
        for name, code in _MEASURES.items()
    }
    order = _order(rng, commerce_type.field("order").type, kind == _PURCHASE, totals, currency)
    commerce = _struct(commerce_type, len(kind), {"order": order, **measures}, is_commerce)
    return {"commerce": commerce, "productListItems": items}


_CURRENCIES = tuple(dict.fromkeys(c.currency for c in COUNTRIES))
_COUNTRY_CURRENCY = np.array([_CURRENCIES.index(c.currency) for c in COUNTRIES], dtype=np.int64)
_CURRENCY_RATES = np.array(
    [next(c.usd_rate for c in COUNTRIES if c.currency == code) for code in _CURRENCIES]
)
_PRODUCT_PRICES = np.array([p[2] for p in PRODUCTS])


def _product_items(
    rng: np.random.Generator, kind: Ints, is_commerce: Bools, currency: Ints
) -> tuple[pa.ListArray, Floats]:
    """1 item on views/adds/removals, 1 to 3 on checkouts and purchases, none elsewhere; and
    each event's total price."""
    basket = np.isin(kind, (_CHECKOUT, _PURCHASE))
    extra = _choose(rng, _weights([0.6, 0.28, 0.12]), len(kind))
    count = np.where(basket, 1 + extra, is_commerce.astype(np.int64))
    offsets = np.concatenate([[0], np.cumsum(count)]).astype(np.int32)
    product = _choose(rng, _zipf(len(PRODUCTS), 0.7), int(offsets[-1]))
    quantity = 1 + _choose(rng, _weights([0.82, 0.13, 0.05]), len(product))
    item_currency = np.repeat(currency, count)
    unit = np.round(_PRODUCT_PRICES[product] * _CURRENCY_RATES[item_currency], 2)
    price = np.round(unit * quantity, 2)
    categories = pa.ListArray.from_arrays(
        np.arange(len(product) + 1, dtype=np.int32), _vocab([p[1] for p in PRODUCTS]).take(product)
    )
    item = _struct(
        _type(EVENT_SCHEMA, "productListItems").value_type,
        len(product),
        {
            "SKU": _vocab([f"SKU-{100_001 + i}" for i in range(len(PRODUCTS))]).take(product),
            "name": _vocab([p[0] for p in PRODUCTS]).take(product),
            "quantity": quantity,
            "priceTotal": price,
            "currencyCode": _vocab(_CURRENCIES).take(item_currency),
            "productCategories": categories,
        },
    )
    totals = np.zeros(len(kind))
    if len(price):
        totals[is_commerce] = np.round(np.add.reduceat(price, offsets[:-1][is_commerce]), 2)
    mask = pa.array(~is_commerce)
    return pa.ListArray.from_arrays(offsets, item, mask=mask), totals


def _order(
    rng: np.random.Generator,
    order_type: pa.StructType,
    purchase: Bools,
    totals: Floats,
    currency: Ints,
) -> pa.StructArray:
    n = int(purchase.sum())
    random_bytes = np.frombuffer(rng.bytes(8 * n), dtype=np.uint8).reshape(n, 8)
    purchase_id = _ascii(_HEX_DIGITS[np.hstack([random_bytes >> 4, random_bytes & 15])])
    order = _struct(
        order_type,
        n,
        {
            "purchaseID": purchase_id,
            "priceTotal": totals[purchase],
            "currencyCode": _vocab(_CURRENCIES).take(currency[purchase]),
        },
    )
    return _scatter(order, purchase)


def _web(rng: np.random.Generator, kind: Ints) -> pa.StructArray:
    """``webPageDetails`` (+ sometimes a referrer) on page views, ``webInteraction`` on clicks."""
    view, click = kind == _PAGE_VIEW, kind == _LINK_CLICK
    web_type = _type(EVENT_SCHEMA, "web")
    return _struct(
        web_type,
        len(kind),
        {
            "webPageDetails": _page_details(rng, web_type.field("webPageDetails").type, view),
            "webReferrer": _referrer(rng, web_type.field("webReferrer").type, view),
            "webInteraction": _interaction(rng, web_type.field("webInteraction").type, click),
        },
        view | click,
    )


def _page_details(
    rng: np.random.Generator, details_type: pa.StructType, view: Bools
) -> pa.StructArray:
    page = _choose(rng, _weights([p[4] for p in PAGES]), len(view))
    return _struct(
        details_type,
        len(view),
        {
            "name": _vocab([p[0] for p in PAGES]).take(page),
            "URL": _vocab([SITE + p[1] for p in PAGES]).take(page),
            "siteSection": _vocab([p[2] for p in PAGES]).take(page),
            "isHomePage": _vocab([p[3] for p in PAGES]).take(page),
            "pageViews": _measure(
                details_type.field("pageViews").type, np.ones(len(view), dtype=bool)
            ),
        },
        view,
    )


def _referrer(
    rng: np.random.Generator, referrer_type: pa.StructType, view: Bools
) -> pa.StructArray:
    referred = view & (rng.random(len(view)) < SHARE_WITH_REFERRER)
    referrer = _choose(rng, _weights([r[2] for r in REFERRERS]), len(view))
    return _struct(
        referrer_type,
        len(view),
        {
            "type": _vocab([r[0] for r in REFERRERS]).take(referrer),
            "URL": _vocab([r[1] or None for r in REFERRERS]).take(referrer),
        },
        referred,
    )


def _interaction(
    rng: np.random.Generator, interaction_type: pa.StructType, click: Bools
) -> pa.StructArray:
    n = len(click)
    link = _choose(rng, _weights([link[3] for link in LINKS]), n)
    return _struct(
        interaction_type,
        n,
        {
            "type": _vocab([link[0] for link in LINKS]).take(link),
            "name": _vocab([link[1] for link in LINKS]).take(link),
            "URL": _vocab([link[2] for link in LINKS]).take(link),
            "linkClicks": _measure(
                interaction_type.field("linkClicks").type, np.ones(n, dtype=bool)
            ),
        },
        click,
    )


def _device_columns(rng: np.random.Generator, events: _Events, device: Ints) -> dict[str, pa.Array]:
    """The profile's device on some web, commerce and app events; the environment is the app on
    launches and the device's browser elsewhere. Email events carry neither."""
    kind, n = events.kind, len(events.kind)
    present = ~np.isin(kind, _EMAIL_KINDS) & (rng.random(n) < SHARE_WITH_DEVICE)
    which = device[events.profile]
    app = kind == _APP_LAUNCH
    device_struct = _struct(
        _type(EVENT_SCHEMA, "device"),
        n,
        {
            "type": _vocab([d[0] for d in DEVICES]).take(which),
            "manufacturer": _vocab([d[1] for d in DEVICES]).take(which),
            "model": _vocab([d[2] for d in DEVICES]).take(which),
        },
        present,
    )
    environment_type = _type(EVENT_SCHEMA, "environment")
    browser_type = environment_type.field("browserDetails").type
    browser = _struct(browser_type, n, {"name": _vocab([d[3] for d in DEVICES]).take(which)}, ~app)
    environment = _struct(
        environment_type,
        n,
        {
            "type": _vocab(["browser", "application"]).take(app.astype(np.int64)),
            "browserDetails": browser,
        },
        present,
    )
    return {"device": device_struct, "environment": environment}
