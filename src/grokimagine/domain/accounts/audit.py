"""The audit log: every admin action, who did it, when, and the state before and after.

Append-only: this module only inserts and reads, and nothing else writes the table. Entries are
written in the same transaction as the change they describe, so a change without its entry (or
an entry without its change) cannot be committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select

from grokimagine.domain.clock import iso_utc, utcnow
from grokimagine.domain.cursors import decode_cursor, encode_cursor
from grokimagine.storage.db import Database, DbConnection
from grokimagine.storage.schema import audit_log

CLI_ACTOR = "cli"


@dataclass(frozen=True)
class Actor:
    """Who performs an admin action: an admin key (by id), or the server-side CLI."""

    id: str

    @property
    def admin_key_id(self) -> str | None:
        """The admin key's id, for ledger rows; ``None`` for the CLI."""
        return None if self.id == CLI_ACTOR else self.id


CLI = Actor(CLI_ACTOR)


@dataclass(frozen=True)
class AuditPage:
    """Audit entries, newest first, and the cursor of the next page."""

    entries: list[dict[str, Any]]
    next_cursor: str | None


async def record_action(
    conn: DbConnection,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    note: str = "",
) -> None:
    """Append one entry, inside the caller's write transaction."""
    await conn.execute(
        insert(audit_log).values(
            actor=actor.id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            before=before,
            after=after,
            note=note[:200],
            created_at=utcnow(),
        )
    )


async def audit_page(
    db: Database,
    *,
    limit: int,
    cursor: str | None = None,
    target_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
) -> AuditPage:
    """One page of the log, newest first, optionally of one target, actor or action.

    Raises :class:`~grokimagine.domain.cursors.InvalidCursorError` for a forged cursor.
    """
    query = select(audit_log)
    if target_id is not None:
        query = query.where(audit_log.c.target_id == target_id)
    if actor is not None:
        query = query.where(audit_log.c.actor == actor)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    if cursor is not None:
        (after_id,) = decode_cursor(cursor, int)
        query = query.where(audit_log.c.id < after_id)
    rows = await db.fetch_all(query.order_by(audit_log.c.id.desc()).limit(limit + 1))
    entries = [
        {
            "id": row.id,
            "actor": row.actor,
            "action": row.action,
            "target_type": row.target_type,
            "target_id": row.target_id,
            "before": row.before,
            "after": row.after,
            "note": row.note,
            "created_at": iso_utc(row.created_at),
        }
        for row in rows[:limit]
    ]
    more = len(rows) > limit
    return AuditPage(entries, encode_cursor(entries[-1]["id"]) if more else None)
