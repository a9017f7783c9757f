"""Key lookups on SQLite run on the raw driver, with SQL and type conversions from SQLAlchemy.

Status polls and token checks are most of a busy server's requests, and each is one SELECT by
key. On SQLite the query itself takes a few microseconds; SQLAlchemy's execution and result
machinery around it takes several times that. A :class:`CompiledLookup` compiles the statement
once with SQLAlchemy, then runs it on the sqlite3 connection and converts each column with the
result processor SQLAlchemy itself would use, so the values are the same either way.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect


class CompiledLookup:
    """A SELECT compiled once for SQLite, whose bind parameters are plain values."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        for bind in compiled.binds.values():
            if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                raise ValueError(f"parameter {bind.key!r} needs conversion; use fetch_one")
        self.sql = compiled.string
        self._names = compiled.positiontup or []
        # Values written into the statement (status == "pending"); the rest come per call.
        self._fixed = {
            name: bind.value for name, bind in compiled.binds.items() if not bind.required
        }
        columns = list(statement.selected_columns)
        self._keys = [column.key for column in columns]
        self._processors: list[Callable[[Any], Any] | None] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]

    def run(
        self, connection: sqlite3.Connection, params: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """The first row as a dict of column key to converted value, or ``None``."""
        values = {**self._fixed, **params}
        row = connection.execute(self.sql, [values[name] for name in self._names]).fetchone()
        if row is None:
            return None
        return {
            key: (process(value) if process is not None and value is not None else value)
            for key, process, value in zip(self._keys, self._processors, row, strict=True)
        }
