"""The commands that run the service: ``serve`` (the API, with a worker), ``worker`` and
``migrate``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

from grokimagine.domain.accounts import accounts, users
from grokimagine.ops.service_record import write_record
from grokimagine.settings import Settings
from grokimagine.storage.db import Database
from grokimagine.storage.locks import exclusive
from grokimagine.storage.migrate import upgrade_database


def migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Apply the database migrations."""
    upgrade_database(settings.resolved_database_url)
    print("database is up to date")
    return 0


def serve(settings: Settings, args: argparse.Namespace) -> int:
    """Run the API (and, unless ``--no-worker``, a worker in each process)."""
    import uvicorn

    from grokimagine.http.edge.connections import PROTOCOL_PATH
    from grokimagine.ops.metrics import MULTIPROC_ENV, prepare_multiprocess_dir
    from grokimagine.services import build_file_store

    if args.workers < 1:
        raise ValueError("--workers must be at least 1")
    if args.workers > 1 and settings.resolved_database_url.startswith("sqlite"):
        # Processes would queue on one file lock (each write waiting on the others): several
        # API processes need PostgreSQL.
        raise ValueError(
            "--workers above 1 needs PostgreSQL (GROKIMAGINE_DATABASE_URL=postgresql://...);"
            " on SQLite run one process"
        )
    upgrade_database(settings.resolved_database_url)
    base_url = f"http://{args.host}:{args.port}"
    demo = asyncio.run(ensure_demo_account(settings))
    # Made once here (the URL-signing secret of local storage), not raced for by N processes.
    build_file_store(settings, base_url)
    # Each API process reads its settings from the environment, like this one.
    if not settings.public_url:
        os.environ["GROKIMAGINE_PUBLIC_URL"] = base_url
    if args.no_worker:
        os.environ["GROKIMAGINE_IN_PROCESS_WORKER"] = "false"
    # Operator commands run from any folder find this service (and never make an empty one).
    recorded = write_record(
        data_dir=settings.data_dir,
        database_url=settings.resolved_database_url,
        base_url=settings.public_url or base_url,
    )
    print(
        f"grokimagine: serving on {base_url} with {args.workers} process(es) "
        f"(engine: {settings.engine}, data: {settings.data_dir})"
    )
    print(f"Operator commands (grokimagine accounts list, ...) find it through {recorded}")
    if demo:
        print(f"Console: {base_url}/console. These sign-ins are shown only once.")
        print("Operator sign-in (runs the service: the Operator section, /admin):")
        print(f"  email:    {demo.operator_email}")
        print(f"  password: {demo.operator_password}")
        print(
            f"Customer sign-in (the demo account: {settings.demo_credits} credits, free plan, "
            "spicy allowed):"
        )
        print(f"  email:    {demo.email}")
        print(f"  password: {demo.password}")
        print("The demo account's API key:")
        print(demo.token, flush=True)
    else:
        print(f"Sign in at {base_url}/console; operators create accounts and keys in /admin.")
    with contextlib.ExitStack() as cleanup:
        if args.workers > 1:
            # Counters of every process add up in one scrape (prometheus_client multiprocess).
            if os.environ.get(MULTIPROC_ENV):
                prepare_multiprocess_dir(Path(os.environ[MULTIPROC_ENV]))
            else:
                folder = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="gi-metrics-"))
                os.environ[MULTIPROC_ENV] = folder
        uvicorn.run(
            "grokimagine.console.app:create_app_from_env",
            factory=True,
            workers=args.workers,
            host=args.host,
            port=args.port,
            log_level="info",
            log_config=None,  # our handlers, set up in each process (JSON lines)
            access_log=args.access_log,
            proxy_headers=True,
            http=PROTOCOL_PATH,
            limit_concurrency=settings.http.max_connections,
            timeout_keep_alive=settings.http.keepalive_seconds,
        )
    return 0


@dataclass(frozen=True)
class DemoSignIn:
    """What the first start prints: the demo account's API key and its console sign-in."""

    token: str
    email: str
    password: str
    operator_email: str
    operator_password: str


DEMO_EMAIL = "demo@example.com"
OPERATOR_EMAIL = "operator@example.com"


async def ensure_demo_account(settings: Settings) -> DemoSignIn | None:
    """On the first start of an empty database, create an operator (in an account of the
    operators' own) and a demo customer account with a key and a console user.

    Under a lock: several ``serve`` commands starting at once make one demo account.
    """
    db = Database(settings.resolved_database_url)
    try:
        async with exclusive(db, "grokimagine-demo-account"):
            if await accounts.count_accounts(db):
                return None
            account = await accounts.create_account(
                db,
                plan="free",
                credits_granted=settings.demo_credits,
                allow_spicy=True,
                name="demo",
            )
            token = (await accounts.create_key(db, account.id, name="demo")).token
            password = secrets.token_urlsafe(12)
            await users.create_user(db, email=DEMO_EMAIL, password=password, account_id=account.id)
            operators = await accounts.create_account(db, plan="free", name="operators")
            operator_password = secrets.token_urlsafe(12)
            await users.create_user(
                db,
                email=OPERATOR_EMAIL,
                password=operator_password,
                account_id=operators.id,
                admin=True,
            )
            return DemoSignIn(
                token=token,
                email=DEMO_EMAIL,
                password=password,
                operator_email=OPERATOR_EMAIL,
                operator_password=operator_password,
            )
    finally:
        await db.dispose()


def worker(settings: Settings, args: argparse.Namespace) -> int:
    """Run only the worker loop and the webhook sender, until SIGTERM or SIGINT."""
    import signal

    from grokimagine.services import build_services
    from grokimagine.worker.loop import Worker
    from grokimagine.worker.webhook_sender import WebhookSender

    upgrade_database(settings.resolved_database_url)
    if settings.metrics_port is not None:
        from prometheus_client import start_http_server

        from grokimagine.ops.metrics import process_registry

        start_http_server(settings.metrics_port, registry=process_registry())

    async def run() -> None:
        services = build_services(settings)
        worker = Worker(services)
        webhooks = WebhookSender(services)
        loop = asyncio.get_running_loop()

        def stop() -> None:
            worker.stop()
            webhooks.stop()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop)
        try:
            await asyncio.gather(worker.run(), webhooks.run())
        finally:
            await services.close()

    asyncio.run(run())
    return 0
