"""Service settings, read once from ``SEGMINT_*`` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CLIENT_ID = "segmint-local-client"
DEFAULT_CLIENT_SECRET = "segmint-local-secret"
DEFAULT_ORG_ID = "SEGMINT0000000000000000@AdobeOrg"
ENGINES = ("duckdb", "spark")
DEFAULT_SPARK_MASTER = "local[2]"


class SettingsError(ValueError):
    """An environment variable has a value Segmint cannot use."""


def _int(env: dict[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    home: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = ""
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = DEFAULT_CLIENT_SECRET
    org_id: str = DEFAULT_ORG_ID
    sandboxes: tuple[str, ...] = ("prod",)
    sample_profiles: int = 10_000
    workers: int = 1
    lease_seconds: int = 30
    token_ttl_seconds: int = 86_399
    duckdb_threads: int | None = None
    duckdb_memory_limit: str | None = None
    max_attempts: int = 3
    engine: str = "duckdb"
    spark_master: str = DEFAULT_SPARK_MASTER
    spark_shuffle_partitions: int = 16
    spark_driver_memory: str | None = None
    max_upload_bytes: int = 256 * 1024 * 1024  # one file uploaded into a batch
    batch_stale_seconds: int = 600  # a COMPLETE quiet this long may be taken over
    stream_flush_records: int = 1000  # streamed records of a dataset that make a batch
    stream_flush_seconds: int = 15  # age of the oldest buffered record that forces a flush
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'segmint.db').resolve()}"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        threads = _int(env, "SEGMINT_DUCKDB_THREADS", 0)
        return cls(
            home=Path(env.get("SEGMINT_HOME") or "var"),
            host=env.get("SEGMINT_HOST") or "127.0.0.1",
            port=_int(env, "SEGMINT_PORT", 8080, minimum=1),
            database_url=env.get("SEGMINT_DATABASE_URL", ""),
            client_id=env.get("SEGMINT_CLIENT_ID") or DEFAULT_CLIENT_ID,
            client_secret=env.get("SEGMINT_CLIENT_SECRET") or DEFAULT_CLIENT_SECRET,
            org_id=env.get("SEGMINT_ORG_ID") or DEFAULT_ORG_ID,
            sandboxes=_sandboxes(env.get("SEGMINT_SANDBOXES") or "prod"),
            sample_profiles=_int(env, "SEGMINT_SAMPLE_PROFILES", 10_000),
            workers=_int(env, "SEGMINT_WORKERS", 1),
            lease_seconds=_int(env, "SEGMINT_LEASE_SECONDS", 30, minimum=2),
            token_ttl_seconds=_int(env, "SEGMINT_TOKEN_TTL_SECONDS", 86_399, minimum=60),
            duckdb_threads=threads or None,
            duckdb_memory_limit=env.get("SEGMINT_DUCKDB_MEMORY_LIMIT") or None,
            max_attempts=_int(env, "SEGMINT_MAX_ATTEMPTS", 3, minimum=1),
            engine=_engine(env.get("SEGMINT_ENGINE") or "duckdb"),
            spark_master=env.get("SEGMINT_SPARK_MASTER") or DEFAULT_SPARK_MASTER,
            spark_shuffle_partitions=_int(env, "SEGMINT_SPARK_SHUFFLE_PARTITIONS", 16, minimum=1),
            spark_driver_memory=env.get("SEGMINT_SPARK_DRIVER_MEMORY") or None,
            max_upload_bytes=_int(env, "SEGMINT_MAX_UPLOAD_BYTES", 256 * 1024 * 1024, minimum=1),
            batch_stale_seconds=_int(env, "SEGMINT_BATCH_STALE_SECONDS", 600, minimum=1),
            stream_flush_records=_int(env, "SEGMINT_STREAM_FLUSH_RECORDS", 1000, minimum=1),
            stream_flush_seconds=_int(env, "SEGMINT_STREAM_FLUSH_SECONDS", 15, minimum=1),
        )


def _engine(raw: str) -> str:
    engine = raw.strip().lower()
    if engine not in ENGINES:
        raise SettingsError(f"SEGMINT_ENGINE must be one of {', '.join(ENGINES)}, got {raw!r}")
    return engine


def _sandboxes(raw: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in raw.split(",") if name.strip())
    for name in names:
        if not name.isascii() or not name.replace("-", "").isalnum() or name != name.lower():
            raise SettingsError(f"sandbox names are lowercase letters, digits and '-': {name!r}")
    if "prod" not in names:
        names = ("prod", *names)
    return names
