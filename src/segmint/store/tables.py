"""The metadata schema: one SQLAlchemy Core table per resource.

Times are epoch milliseconds (BIGINT) as on the wire. JSON columns hold the parts of a
resource that are only ever read whole (segment snapshots, metrics, errors).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = 36  # lowercase UUID text

sandboxes = Table(
    "sandboxes",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("org_id", String(128), nullable=False),
    Column("name", String(64), nullable=False),
    Column("type", String(16), nullable=False),
    Column("is_default", Boolean, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("org_id", "name", name="uq_sandboxes_org_name"),
)

merge_policies = Table(
    "merge_policies",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("sandbox_id", String(ID), ForeignKey("sandboxes.id"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("schema_name", String(128), nullable=False),
    Column("version", Integer, nullable=False),
    Column("is_default", Boolean, nullable=False),
    Column("identity_graph", String(16), nullable=False),
    Column("attribute_merge", String(32), nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("attribute_merge_order", JSON, nullable=True),  # dataset ids, highest first
    Column("is_active_on_edge", Boolean, nullable=False, server_default=false()),
    Column("created_ms", BigInteger, nullable=False, server_default="0"),
)

segment_definitions = Table(
    "segment_definitions",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("sandbox_id", String(ID), ForeignKey("sandboxes.id"), nullable=False),
    Column("name", String(512), nullable=False),
    Column("description", Text, nullable=True),
    Column("expression_type", String(16), nullable=False),
    Column("expression_format", String(16), nullable=False),
    Column("expression_value", Text, nullable=False),
    Column("merge_policy_id", String(ID), ForeignKey("merge_policies.id"), nullable=False),
    Column("schema_name", String(128), nullable=False),
    Column("ttl_in_days", Integer, nullable=True),
    Column("evaluation_info", JSON, nullable=False),
    Column("profile_instance_id", String(64), nullable=False),
    Column("payload_schema", String(256), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    UniqueConstraint("sandbox_id", "name", name="uq_segment_definitions_sandbox_name"),
)

segment_jobs = Table(
    "segment_jobs",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(ID), nullable=False, unique=True),
    Column("sandbox_id", String(ID), ForeignKey("sandboxes.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("batch_id", String(ID), nullable=False),
    Column("compute_gateway_job_id", String(ID), nullable=False),
    Column("request_id", String(256), nullable=False),
    Column("client_request_id", String(256), nullable=True),
    Column("schema_name", String(128), nullable=False),
    Column("all_segments", Boolean, nullable=False),
    Column("segments", JSON, nullable=False),
    Column("segment_ids", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("errors", JSON, nullable=True),
    Column("properties", JSON, nullable=True),
    Column("evaluation_time_ms", BigInteger, nullable=True),
    Column("worker_id", String(128), nullable=True),
    Column("lease_expires_ms", BigInteger, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("progress", JSON, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
    UniqueConstraint("sandbox_id", "client_request_id", name="uq_segment_jobs_request"),
    Index("ix_segment_jobs_claim", "status", "created_ms"),
    Index("ix_segment_jobs_sandbox_created", "sandbox_id", "created_ms"),
)

membership_snapshots = Table(
    "membership_snapshots",
    metadata,
    Column("job_id", String(ID), ForeignKey("segment_jobs.id"), primary_key=True),
    Column("segment_id", String(ID), primary_key=True),
    Column("sandbox_id", String(ID), ForeignKey("sandboxes.id"), nullable=False),
    Column("batch_id", String(ID), nullable=False),
    Column("evaluated_ms", BigInteger, nullable=False),
    Index("ix_membership_snapshots_segment", "sandbox_id", "segment_id", "evaluated_ms"),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("sandbox_id", String(ID), ForeignKey("sandboxes.id"), nullable=False),
    Column("name", String(512), nullable=False),
    Column("schema_name", String(128), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
)

batches = Table(
    "batches",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("dataset_id", String(ID), ForeignKey("datasets.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("records_read", BigInteger, nullable=False),
    Column("records_written", BigInteger, nullable=False),
    Column("errors", JSON, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Index("ix_batches_dataset", "dataset_id", "status"),
)

tenant_field_groups = Table(
    "tenant_field_groups",
    metadata,
    Column("sandbox_id", String(ID), ForeignKey("sandboxes.id"), primary_key=True),
    Column("schema_name", String(128), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("definition", JSON, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

# Custom identity namespaces of an org (the standard ones: segmint.profiles.namespaces).
identity_namespaces = Table(
    "identity_namespaces",
    metadata,
    Column("org_id", String(128), primary_key=True),
    Column("code", String(64), primary_key=True),
    Column("id", Integer, nullable=False),
    Column("name", String(256), nullable=False),
    Column("description", Text, nullable=True),
    Column("id_type", String(32), nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

# Versions of the materialised profile views of a sandbox (the identity graph, and the merged
# profiles of each merge policy): which batches each was built from. The newest row is current.
profile_views = Table(
    "profile_views",
    metadata,
    Column("sandbox_id", String(ID), ForeignKey("sandboxes.id"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("batch_ids", JSON, nullable=False),
    Column("source_version", Integer, nullable=True),  # the graph version a merged view used
    Column("policy_version", Integer, nullable=True),
    Column("stats", JSON, nullable=True),
    Column("created_ms", BigInteger, nullable=False),
)

# Ingestion (migration 0004): what a dataset's records identify, and a batch's lifecycle
# (``loading`` → ``staging`` → ``success`` | ``failed``, or ``aborted``) with AEP's metrics.
for _column in (
    Column("description", Text, nullable=True),
    Column("identity_descriptors", JSON, nullable=True),  # [{path, namespace, primary}]
    Column("tags", JSON, nullable=True),
    Column("updated_ms", BigInteger, nullable=True),
):
    datasets.append_column(_column)
for _column in (
    Column("input_format", JSON, nullable=True),  # {"format": "json", ...} as created
    Column("tags", JSON, nullable=True),
    Column("metrics", JSON, nullable=True),
    Column("claim", String(ID), nullable=True),  # who is completing a ``staging`` batch
    Column("created_client", String(256), nullable=True),
    Column("updated_ms", BigInteger, nullable=True),
    Column("started_ms", BigInteger, nullable=True),
    Column("completed_ms", BigInteger, nullable=True),
):
    batches.append_column(_column)

# Streamed records acknowledged but not yet flushed into a batch of their dataset.
stream_records = Table(
    "stream_records",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("sandbox_id", String(ID), ForeignKey("sandboxes.id"), nullable=False),
    Column("dataset_id", String(ID), ForeignKey("datasets.id"), nullable=False),
    Column("record", JSON, nullable=False),
    Column("received_ms", BigInteger, nullable=False),
    Index("ix_stream_records_dataset", "sandbox_id", "dataset_id", "seq"),
)
