"""Sample data for a fresh home: synthetic XDM profiles with their experience events, in
two datasets of the ``prod`` sandbox, and a few segment definitions that use them."""

from __future__ import annotations

import logging
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

from segmint.api.segment_definitions import DEFAULT_EVALUATION_INFO
from segmint.api.wire import PROFILE_INSTANCE_ID
from segmint.jobs.model import Tenant
from segmint.profiles.generate import generate
from segmint.store import BATCH_SUCCESS, Definition, Store
from segmint.xdm import EXPERIENCE_EVENT_CLASS, PROFILE_CLASS

log = logging.getLogger(__name__)

SAMPLE_DEFINITIONS: tuple[tuple[str, str, str], ...] = (
    ("US residents", "People whose home is in the United States", 'homeAddress.countryCode = "US"'),
    (
        "Gold and platinum members",
        "Loyalty members in the two top tiers",
        'loyalty.tier in ["gold", "platinum"]',
    ),
    (
        "Purchased in the last 30 days",
        "At least one purchase event in the last 30 days",
        'select X from xEvent where X.eventType = "commerce.purchases" '
        "and X.timestamp occurs <= 30 days before now",
    ),
    (
        "Frequent visitors",
        "Three or more page views in the last 7 days",
        '(select X from xEvent where X.eventType = "web.webpagedetails.pageViews" '
        "and X.timestamp occurs <= 7 days before now).count() >= 3",
    ),
    (
        "Gmail users",
        "Personal email at gmail.com, any case",
        'personalEmail.address.endsWith("@gmail.com", false)',
    ),
)


def needs_sample_data(store: Store, tenant: Tenant) -> bool:
    return not store.catalog.datasets(tenant) and not store.definitions.ordered(
        tenant, [("creationTime", False)]
    )


def load_sample_data(store: Store, tenant: Tenant, home: Path, profiles: int) -> None:
    """Generate ``profiles`` profiles (about ten events each) and the sample definitions."""
    if profiles > 0:
        _load_profiles(store, tenant, home, profiles)
    policy = store.tenants.default_merge_policy(tenant)
    for name, description, expression in SAMPLE_DEFINITIONS:
        store.definitions.create(
            tenant,
            Definition(
                id="",
                name=name,
                description=description,
                expression_type="PQL",
                expression_format="pql/text",
                expression_value=expression,
                merge_policy_id=policy.id,
                schema_name=PROFILE_CLASS,
                ttl_in_days=30,
                evaluation_info=dict(DEFAULT_EVALUATION_INFO),
                profile_instance_id=PROFILE_INSTANCE_ID,
                payload_schema=None,
                created_ms=0,
                updated_ms=0,
            ),
        )


def _load_profiles(store: Store, tenant: Tenant, home: Path, profiles: int) -> None:
    scratch = home / f".sample-{uuid.uuid4().hex[:8]}"
    try:
        log.info("generating %d sample profiles", profiles)
        result = generate(
            scratch, profiles=profiles, seed=42, now=datetime.now(UTC).replace(tzinfo=None)
        )
        _publish(
            store,
            tenant,
            "Sample Profiles",
            PROFILE_CLASS,
            scratch / "profiles",
            result.profile_count,
        )
        _publish(
            store,
            tenant,
            "Sample Experience Events",
            EXPERIENCE_EVENT_CLASS,
            scratch / "events",
            result.event_count,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _publish(
    store: Store, tenant: Tenant, name: str, schema_name: str, files: Path, count: int
) -> None:
    dataset = store.catalog.create_dataset(tenant, name, schema_name)
    batch_id = str(uuid.uuid4())
    target = store.catalog.batch_dir(tenant, dataset.id, batch_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    files.rename(target)
    store.catalog.record_batch(
        dataset.id,
        batch_id,
        status=BATCH_SUCCESS,
        records_read=count,
        records_written=count,
        errors=None,
    )
