"""Alembic migrations of the product's store (SQLite and PostgreSQL alike)."""
