"""Ingestion: dataset identity descriptors, batch lifecycle and metrics, the streaming buffer.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("datasets") as table:
        table.add_column(sa.Column("description", sa.Text, nullable=True))
        table.add_column(sa.Column("identity_descriptors", sa.JSON, nullable=True))
        table.add_column(sa.Column("tags", sa.JSON, nullable=True))
        table.add_column(sa.Column("updated_ms", sa.BigInteger, nullable=True))
    with op.batch_alter_table("batches") as table:
        table.add_column(sa.Column("input_format", sa.JSON, nullable=True))
        table.add_column(sa.Column("tags", sa.JSON, nullable=True))
        table.add_column(sa.Column("metrics", sa.JSON, nullable=True))
        table.add_column(sa.Column("claim", sa.String(36), nullable=True))
        table.add_column(sa.Column("created_client", sa.String(256), nullable=True))
        table.add_column(sa.Column("updated_ms", sa.BigInteger, nullable=True))
        table.add_column(sa.Column("started_ms", sa.BigInteger, nullable=True))
        table.add_column(sa.Column("completed_ms", sa.BigInteger, nullable=True))
    op.create_table(
        "stream_records",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sandbox_id", sa.String(36), sa.ForeignKey("sandboxes.id"), nullable=False),
        sa.Column("dataset_id", sa.String(36), sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("received_ms", sa.BigInteger, nullable=False),
        sa.Index("ix_stream_records_dataset", "sandbox_id", "dataset_id", "seq"),
    )


def downgrade() -> None:
    op.drop_table("stream_records")
    with op.batch_alter_table("batches") as table:
        for name in (
            "completed_ms",
            "started_ms",
            "updated_ms",
            "created_client",
            "claim",
            "metrics",
            "tags",
            "input_format",
        ):
            table.drop_column(name)
    with op.batch_alter_table("datasets") as table:
        for name in ("updated_ms", "tags", "identity_descriptors", "description"):
            table.drop_column(name)
