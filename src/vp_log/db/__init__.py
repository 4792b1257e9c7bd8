"""The only package that speaks SQL: tables, migrations and repository functions."""

from vp_log.db.engine import Database, make_engine, upgrade_database

__all__ = ["Database", "make_engine", "upgrade_database"]
