"""Initial metadata schema: sandboxes, merge policies, definitions, jobs, memberships, datasets.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sandboxes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("org_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("is_default", sa.Boolean, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("org_id", "name", name="uq_sandboxes_org_name"),
    )
    op.create_table(
        "merge_policies",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("sandbox_id", sa.String(36), sa.ForeignKey("sandboxes.id"), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("schema_name", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("is_default", sa.Boolean, nullable=False),
        sa.Column("identity_graph", sa.String(16), nullable=False),
        sa.Column("attribute_merge", sa.String(32), nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "segment_definitions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("sandbox_id", sa.String(36), sa.ForeignKey("sandboxes.id"), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("expression_type", sa.String(16), nullable=False),
        sa.Column("expression_format", sa.String(16), nullable=False),
        sa.Column("expression_value", sa.Text, nullable=False),
        sa.Column(
            "merge_policy_id", sa.String(36), sa.ForeignKey("merge_policies.id"), nullable=False
        ),
        sa.Column("schema_name", sa.String(128), nullable=False),
        sa.Column("ttl_in_days", sa.Integer, nullable=True),
        sa.Column("evaluation_info", sa.JSON, nullable=False),
        sa.Column("profile_instance_id", sa.String(64), nullable=False),
        sa.Column("payload_schema", sa.String(256), nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("sandbox_id", "name", name="uq_segment_definitions_sandbox_name"),
    )
    op.create_table(
        "segment_jobs",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("sandbox_id", sa.String(36), sa.ForeignKey("sandboxes.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("compute_gateway_job_id", sa.String(36), nullable=False),
        sa.Column("request_id", sa.String(256), nullable=False),
        sa.Column("client_request_id", sa.String(256), nullable=True),
        sa.Column("schema_name", sa.String(128), nullable=False),
        sa.Column("all_segments", sa.Boolean, nullable=False),
        sa.Column("segments", sa.JSON, nullable=False),
        sa.Column("segment_ids", sa.JSON, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("errors", sa.JSON, nullable=True),
        sa.Column("properties", sa.JSON, nullable=True),
        sa.Column("evaluation_time_ms", sa.BigInteger, nullable=True),
        sa.Column("worker_id", sa.String(128), nullable=True),
        sa.Column("lease_expires_ms", sa.BigInteger, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("progress", sa.JSON, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("id", name="uq_segment_jobs_id"),
        sa.UniqueConstraint("sandbox_id", "client_request_id", name="uq_segment_jobs_request"),
    )
    op.create_index("ix_segment_jobs_claim", "segment_jobs", ["status", "created_ms"])
    op.create_index("ix_segment_jobs_sandbox_created", "segment_jobs", ["sandbox_id", "created_ms"])
    op.create_table(
        "membership_snapshots",
        sa.Column("job_id", sa.String(36), sa.ForeignKey("segment_jobs.id"), primary_key=True),
        sa.Column("segment_id", sa.String(36), primary_key=True),
        sa.Column("sandbox_id", sa.String(36), sa.ForeignKey("sandboxes.id"), nullable=False),
        sa.Column("batch_id", sa.String(36), nullable=False),
        sa.Column("evaluated_ms", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "ix_membership_snapshots_segment",
        "membership_snapshots",
        ["sandbox_id", "segment_id", "evaluated_ms"],
    )
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("sandbox_id", sa.String(36), sa.ForeignKey("sandboxes.id"), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("schema_name", sa.String(128), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("dataset_id", sa.String(36), sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("records_read", sa.BigInteger, nullable=False),
        sa.Column("records_written", sa.BigInteger, nullable=False),
        sa.Column("errors", sa.JSON, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_batches_dataset", "batches", ["dataset_id", "status"])


def downgrade() -> None:
    for table in (
        "batches",
        "datasets",
        "membership_snapshots",
        "segment_jobs",
        "segment_definitions",
        "merge_policies",
        "sandboxes",
    ):
        op.drop_table(table)
