"""The state store as it stood when migrations began: sensors, decisions, intelligence, credentials.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _moment(name: str, *, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "sensors",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        _moment("created_at"),
    )
    _decisions()
    _intel()
    _creds()


def _decisions() -> None:
    op.create_table(
        "decisions",
        sa.Column("num", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("indicator_id", sa.String(80), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("value", sa.String(2048), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("direction", sa.String(8), nullable=False),
        sa.Column("origin", sa.String(8), nullable=False),
        sa.Column("simulated", sa.Boolean, nullable=False),
        _moment("expires_at"),
        _moment("withdrawn_at", nullable=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_decisions_indicator_id", "decisions", ["indicator_id"])
    op.create_index("ix_decisions_value", "decisions", ["value"])
    op.create_index("ix_decisions_seq", "decisions", ["seq"])
    op.create_table(
        "bouncers",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("key_sha256", sa.String(64), nullable=False, unique=True),
        _moment("created_at"),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        _moment("last_pull", nullable=True),
    )
    op.create_table(
        "counters",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )


def _intel() -> None:
    op.create_table(
        "feed_indicators",
        sa.Column("source", sa.String(256), primary_key=True),
        sa.Column("type", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(2048), primary_key=True),
        sa.Column("role", sa.String(32), primary_key=True),
        sa.Column("confidence", sa.Integer, nullable=False),
        _moment("at"),
        sa.Column("seq", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_feed_indicators_seq", "feed_indicators", ["seq"])
    op.create_table(
        "allowlist",
        sa.Column("type", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(2048), primary_key=True),
        sa.Column("reason", sa.String(1024), nullable=False),
        _moment("expires_at", nullable=True),
        _moment("created_at"),
    )
    op.create_table(
        "blast_radius",
        sa.Column("value", sa.String(256), primary_key=True),
        sa.Column("internal_hosts", sa.Integer, nullable=False),
        sa.Column("flows", sa.BigInteger, nullable=False),
        _moment("measured_at"),
    )
    op.create_table(
        "findings",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(256), nullable=False),
        _moment("last_seen", nullable=True),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_findings_kind", "findings", ["kind"])
    op.create_index("ix_findings_subject", "findings", ["subject"])


def _creds() -> None:
    op.create_table(
        "honeytokens",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(12), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=True),
        _moment("issued_at"),
        sa.Column("sensor", sa.String(128), nullable=False),
        sa.Column("session", sa.String(64), nullable=False),
        sa.Column("src_ip", sa.String(64), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("service", sa.String(16), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_honeytokens_src_ip", "honeytokens", ["src_ip"])
    op.create_table(
        "key_quarantines",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("user_name", sa.String(128), nullable=False),
        sa.Column("policy_name", sa.String(128), nullable=False),
        sa.Column("reason", sa.String(512), nullable=False),
        _moment("attached_at"),
        _moment("released_at", nullable=True),
    )
    op.create_table(
        "key_exposures",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("source", sa.String(1024), primary_key=True),
        sa.Column("account_id", sa.String(12), nullable=True),
        sa.Column("body", sa.LargeBinary, nullable=False),
        _moment("first_seen"),
        _moment("last_seen"),
        _moment("rotated_at", nullable=True),
    )
    op.create_index("ix_key_exposures_account_id", "key_exposures", ["account_id"])
    op.create_table(
        "key_notices",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("source", sa.String(1024), primary_key=True),
        _moment("sent_at"),
        sa.Column("count", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("key_notices", "key_exposures", "key_quarantines", "honeytokens", "findings", "blast_radius",
                  "allowlist", "feed_indicators", "counters", "bouncers", "decisions", "sensors"):
        op.drop_table(table)
