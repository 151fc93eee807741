"""Storage: the state store (SQLAlchemy Core: SQLite or PostgreSQL) and the event store (DuckDB).

Nothing here speaks HTTP; the server and the CLI sit on top.
"""
