"""Storage: the database (SQLAlchemy Core, Alembic migrations) and file stores."""
