"""Operators' reports: usage and margin per day and engine, and which workers are alive."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select

from grokimagine.domain.clock import iso_utc, utcnow
from grokimagine.domain.errors import InvalidRequestError
from grokimagine.domain.operator.tasks import provider_facts
from grokimagine.domain.tasks.records import PENDING, PROCESSING
from grokimagine.storage.db import Database
from grokimagine.storage.schema import ledger, tasks, workers

MAX_REPORT_DAYS = 366
# Columns a relay engine may record its provider's job and cost in, where the schema has them.
PROVIDER_COLUMNS = ("provider_job_id", "provider_cost_usd")
# A worker checks in every 10 s between tasks and renews its lease during one.
ALIVE_WITHIN = timedelta(seconds=30)


class ReportRangeError(InvalidRequestError):
    """The report's dates are reversed or span too long."""


@dataclass
class _Line:
    tasks: int = 0
    charged: int = 0
    refunded: int = 0
    cost_usd: float = 0.0
    costed_tasks: int = 0


async def usage_and_margin(
    db: Database, *, since: date, until: date, usd_per_credit: Decimal
) -> list[dict[str, Any]]:
    """Per UTC day (of the task's creation) and engine, from ``since`` to ``until`` inclusive:
    tasks, credits charged and refunded, revenue, provider cost where known, and the margin.

    A task's engine is the one that ran it, else the first of its route (``default`` if none).
    Test-key tasks are counted but charge nothing.
    """
    if until < since:
        raise ReportRangeError("until is before since")
    if (until - since).days >= MAX_REPORT_DAYS:
        raise ReportRangeError(f"a report spans at most {MAX_REPORT_DAYS} days")
    start = datetime(since.year, since.month, since.day, tzinfo=UTC)
    end = datetime(until.year, until.month, until.day, tzinfo=UTC) + timedelta(days=1)
    in_range = and_(tasks.c.created_at >= start, tasks.c.created_at < end)
    # Only what the report reads (not prompts or requests): a year of tasks stays light.
    wanted = [tasks.c.id, tasks.c.created_at, tasks.c.engine, tasks.c.route_head]
    wanted += [tasks.c.engine_info]
    wanted += [column for name in PROVIDER_COLUMNS if (column := tasks.c.get(name)) is not None]
    rows = await db.fetch_all(select(*wanted).where(in_range))
    sums = await db.fetch_all(
        select(ledger.c.task_id, ledger.c.reason, func.sum(ledger.c.delta).label("total"))
        .join(tasks, tasks.c.id == ledger.c.task_id)
        .where(in_range)
        .group_by(ledger.c.task_id, ledger.c.reason)
    )
    charged: dict[str, int] = defaultdict(int)
    refunded: dict[str, int] = defaultdict(int)
    for entry in sums:
        if entry.reason == "reserve":
            charged[entry.task_id] -= int(entry.total)
        elif entry.reason == "refund":
            refunded[entry.task_id] += int(entry.total)
    lines: dict[tuple[str, str], _Line] = defaultdict(_Line)
    for row in rows:
        day = row.created_at.astimezone(UTC).date().isoformat()
        engine = row.engine or row.route_head or "default"
        line = lines[(day, engine)]
        line.tasks += 1
        line.charged += charged[row.id]
        line.refunded += refunded[row.id]
        cost = provider_facts(row).cost_usd
        if cost is not None:
            line.cost_usd += cost
            line.costed_tasks += 1
    report = []
    for (day, engine), line in sorted(lines.items(), key=lambda item: (item[0][0], item[0][1])):
        net = line.charged - line.refunded
        revenue = Decimal(net) * usd_per_credit
        cost = Decimal(str(round(line.cost_usd, 6)))
        report.append(
            {
                "date": day,
                "engine": engine,
                "tasks": line.tasks,
                "credits_charged": line.charged,
                "credits_refunded": line.refunded,
                "credits_net": net,
                "revenue_usd": float(round(revenue, 6)),
                "provider_cost_usd": float(cost) if line.costed_tasks else None,
                "tasks_with_cost": line.costed_tasks,
                "margin_usd": float(round(revenue - cost, 6)),
            }
        )
    return report


async def workers_and_engines(db: Database) -> dict[str, Any]:
    """Workers seen in the last hour, whether each is alive and what it serves; engines alive,
    with their pending tasks."""
    now = utcnow()
    rows = await db.fetch_all(
        select(workers).where(workers.c.last_seen_at > now - timedelta(hours=1))
    )
    leased = {
        row.lease_owner
        for row in await db.fetch_all(
            select(tasks.c.lease_owner).where(
                tasks.c.status == PROCESSING, tasks.c.lease_expires_at > now
            )
        )
    }
    pending = {
        (engine or "default"): int(count)
        for engine, count in await db.fetch_all(
            select(tasks.c.route_head, func.count())
            .where(tasks.c.status == PENDING, tasks.c.deleted_at.is_(None))
            .group_by(tasks.c.route_head)
        )
    }
    listed = []
    seen_nodes: list[tuple[datetime, str, list[dict[str, Any]]]] = []
    alive_engines: dict[str, int] = defaultdict(int)
    for row in sorted(rows, key=lambda r: r.id):
        alive = row.last_seen_at > now - ALIVE_WITHIN or row.id in leased
        listed.append(
            {
                "id": row.id,
                "engines": list(row.engines),
                "alive": alive,
                "busy": row.id in leased,
                "started_at": iso_utc(row.started_at),
                "last_seen_at": iso_utc(row.last_seen_at),
            }
        )
        if alive:
            seen_nodes.append((row.last_seen_at, row.id, list(row.nodes or [])))
        if alive:
            for engine in row.engines:
                alive_engines[engine] += 1
    engines = [
        {
            "engine": name,
            "alive_workers": alive_engines.get(name, 0),
            "pending": pending.get(name, 0),
        }
        for name in sorted(set(alive_engines) | set(pending))
    ]
    return {"workers": listed, "engines": engines, "nodes": _fleet_nodes(seen_nodes)}


def _fleet_nodes(
    seen: list[tuple[datetime, str, list[dict[str, Any]]]],
) -> list[dict[str, Any]]:
    """Each GPU node once, as its freshest live worker saw it, with the jobs every live worker
    has on it (several workers may share one pool of nodes)."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for _, worker_id, nodes in sorted(seen, key=lambda entry: entry[0], reverse=True):
        for node in nodes:
            key = (str(node.get("engine")), str(node.get("url")))
            known = merged.get(key)
            if known is None:
                merged[key] = {**node, "workers": [worker_id]}
            else:
                known["in_flight"] = int(known.get("in_flight") or 0) + int(
                    node.get("in_flight") or 0
                )
                known["workers"].append(worker_id)
    return sorted(merged.values(), key=lambda n: (str(n.get("engine")), str(n.get("name"))))
