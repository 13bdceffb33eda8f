"""The store: SQLAlchemy 2 async models, engine and migrations."""

from callcenter.store.engine import SessionFactory, create_engine, session_factory

__all__ = ["SessionFactory", "create_engine", "session_factory"]
