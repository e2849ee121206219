"""dashboard accounts: users, mailed codes, app owners

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 15:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "email_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_email_codes_user_purpose", "email_codes", ["user_id", "purpose"])
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_id", sa.Integer(), nullable=True))
        batch_op.create_index("ix_apps_owner_id", ["owner_id"])
        batch_op.create_foreign_key(
            "fk_apps_owner_id_users", "users", ["owner_id"], ["id"], ondelete="SET NULL"
        )


def downgrade():
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_constraint("fk_apps_owner_id_users", type_="foreignkey")
        batch_op.drop_index("ix_apps_owner_id")
        batch_op.drop_column("owner_id")
    op.drop_index("ix_email_codes_user_purpose", table_name="email_codes")
    op.drop_table("email_codes")
    op.drop_table("users")
