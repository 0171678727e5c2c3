"""report history: versions, holders, match keys (keyed digests), link notices

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_versions",
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("report_version", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("field_digests", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["report_id"], ["reports.report_id"]),
        sa.PrimaryKeyConstraint("report_id", "report_version"),
    )
    op.create_table(
        "report_holders",
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("recipient_kind", sa.String(length=16), nullable=False),
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("notification_id", sa.String(length=40), nullable=False),
        sa.Column("first_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["reports.report_id"]),
        sa.PrimaryKeyConstraint("report_id", "recipient_kind", "agency_id"),
    )
    op.create_table(
        "report_match_keys",
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("match_key", sa.String(length=64), nullable=False),
        sa.Column("key_kind", sa.String(length=16), nullable=False),
        sa.Column("report_version", sa.Integer(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("report_id", "match_key"),
    )
    with op.batch_alter_table("report_match_keys") as batch:
        batch.create_index("ix_report_match_keys_match_key", ["match_key"], unique=False)
    op.create_table(
        "link_notices",
        sa.Column("agency_id", sa.String(length=64), nullable=False),
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("linked_report_id", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=80), nullable=False),
        sa.Column("notification_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("agency_id", "report_id", "linked_report_id"),
    )


def downgrade() -> None:
    op.drop_table("link_notices")
    with op.batch_alter_table("report_match_keys") as batch:
        batch.drop_index("ix_report_match_keys_match_key")
    op.drop_table("report_match_keys")
    op.drop_table("report_holders")
    op.drop_table("report_versions")
