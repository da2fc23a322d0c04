"""Profiles: merge-policy details, custom identity namespaces, materialised profile views.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("merge_policies") as table:
        table.add_column(sa.Column("attribute_merge_order", sa.JSON, nullable=True))
        table.add_column(
            sa.Column("is_active_on_edge", sa.Boolean, nullable=False, server_default=sa.false())
        )
        table.add_column(sa.Column("created_ms", sa.BigInteger, nullable=False, server_default="0"))
    op.create_table(
        "identity_namespaces",
        sa.Column("org_id", sa.String(128), primary_key=True),
        sa.Column("code", sa.String(64), primary_key=True),
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("id_type", sa.String(32), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "profile_views",
        sa.Column("sandbox_id", sa.String(36), sa.ForeignKey("sandboxes.id"), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("batch_ids", sa.JSON, nullable=False),
        sa.Column("source_version", sa.Integer, nullable=True),
        sa.Column("policy_version", sa.Integer, nullable=True),
        sa.Column("stats", sa.JSON, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("profile_views")
    op.drop_table("identity_namespaces")
    with op.batch_alter_table("merge_policies") as table:
        table.drop_column("created_ms")
        table.drop_column("is_active_on_edge")
        table.drop_column("attribute_merge_order")
