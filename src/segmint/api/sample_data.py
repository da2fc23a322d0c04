"""Sample data for a fresh home: synthetic people made of several fragments (CRM and loyalty
profiles, web and email events) in four datasets of the ``prod`` sandbox, a stitching merge
policy made the sandbox's default, and a few segment definitions that use them."""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from segmint.api.segment_definitions import DEFAULT_EVALUATION_INFO
from segmint.api.wire import PROFILE_INSTANCE_ID
from segmint.clock import now_ms
from segmint.jobs.model import Tenant
from segmint.profiles.people import generate_people
from segmint.profiles.policies import AttributeMergeType, IdentityGraphType, MergePolicy
from segmint.store import BATCH_SUCCESS, Definition, MergePolicyRef, Store
from segmint.store.merge_policies import PolicyDraft
from segmint.xdm import PROFILE_CLASS

log = logging.getLogger(__name__)

MINUTE_MS = 60_000
STITCHED_POLICY_NAME = "Stitched profiles (private graph)"

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
    """Generate ``profiles`` people (about 3.4 fragments and ten events each), the stitched
    default policy and the sample definitions."""
    policy: MergePolicy | MergePolicyRef = store.tenants.default_merge_policy(tenant)
    if profiles > 0:
        _load_people(store, tenant, home, profiles)
        policy = _stitched_default(store, tenant)
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


def _load_people(store: Store, tenant: Tenant, home: Path, people: int) -> None:
    """Generated people as their four datasets, one batch per generated batch, ingested a
    minute apart in the generator's order (so later batches win conflicts)."""
    scratch = home / f".sample-{uuid.uuid4().hex[:8]}"
    try:
        log.info("generating %d sample people", people)
        result = generate_people(
            scratch, people=people, seed=42, now=datetime.now(UTC).replace(tzinfo=None)
        )
        manifest = json.loads(result.manifest.read_text())
        _publish(store, tenant, scratch, manifest)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _publish(store: Store, tenant: Tenant, scratch: Path, manifest: dict[str, Any]) -> None:
    datasets = {
        d["name"]: store.catalog.create_dataset(tenant, d["name"], d["class"])
        for d in manifest["datasets"]
    }
    batches = sorted(
        ((b["sequence"], d["name"], b) for d in manifest["datasets"] for b in d["batches"]),
        key=lambda entry: entry[0],
    )
    first_ms = now_ms() - len(batches) * MINUTE_MS
    for sequence, name, batch in batches:
        batch_id = str(uuid.uuid4())
        target = store.catalog.batch_dir(tenant, datasets[name].id, batch_id)
        target.mkdir(parents=True)
        for part in batch["files"]:
            (scratch / part).rename(target / Path(part).name)
        store.catalog.record_batch(
            datasets[name].id,
            batch_id,
            status=BATCH_SUCCESS,
            records_read=batch["records"],
            records_written=batch["records"],
            errors=None,
            ingested_ms=first_ms + sequence * MINUTE_MS,
        )


def _stitched_default(store: Store, tenant: Tenant) -> MergePolicy:
    """The sample people are only whole when stitched: their default policy uses the graph."""
    draft = PolicyDraft(
        name=STITCHED_POLICY_NAME,
        schema_name=PROFILE_CLASS,
        identity_graph=IdentityGraphType.PDG,
        attribute_merge=AttributeMergeType.TIMESTAMP_ORDERED,
        is_default=True,
    )
    return store.merge_policies.create(tenant, draft)
