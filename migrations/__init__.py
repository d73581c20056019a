"""Alembic migrations for recstream's database (run them with `recstream db upgrade`)."""
