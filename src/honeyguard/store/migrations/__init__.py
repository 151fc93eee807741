"""Alembic migrations of the state store (run through honeyguard.store.schema, not an alembic.ini)."""
