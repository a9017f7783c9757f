"""The ``grokimagine`` command: serve the API, run a worker, manage accounts, keys and credits;
and, as a client of a running server, generate and follow videos (the commands of
``grokimagine-client``, the SDK's command line, which it delegates to)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import secrets
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from grokimagine.domain.accounts import accounts, admin_keys, users
from grokimagine.domain.accounts.audit import CLI
from grokimagine.domain.billing.credits import MAX_BALANCE, BalanceLimitError, BalanceTooLowError
from grokimagine.domain.billing.plans import UnknownPlanError, plan_catalog
from grokimagine.domain.operator import accounts as account_admin
from grokimagine.domain.operator.business_settings import (
    apply_values,
    check_business_settings,
    current_version,
)
from grokimagine.ops.logs import configure_logging
from grokimagine.ops.service_record import NoServiceError, find_service, write_record
from grokimagine.settings import Settings
from grokimagine.storage.db import Database
from grokimagine.storage.locks import exclusive
from grokimagine.storage.migrate import upgrade_database
from grokimagine_client import cli as client_cli

T = TypeVar("T")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script: Ctrl-C at any moment exits 130 without a traceback."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        return client_cli.EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if hasattr(args, "client_command"):
        # An API call over HTTP: no server settings, no database.
        return client_cli.run(args)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    settings = Settings()
    configure_logging(settings.log_format)
    try:
        check_business_settings(settings)
        if getattr(args, "needs_service", True):
            settings = with_business_settings(find_service(settings))
        return int(args.run(settings, args) or 0)
    except NoServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except accounts.AccountNotFoundError as exc:
        print(f"error: no account {exc}", file=sys.stderr)
        return 1
    except (UnknownPlanError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BalanceTooLowError as exc:
        print(
            f"error: the balance is {exc.balance}; a deduction never goes below 0", file=sys.stderr
        )
        return 1
    except BalanceLimitError as exc:
        print(f"error: the balance is {exc.balance}; at most {MAX_BALANCE}", file=sys.stderr)
        return 1


def with_business_settings(settings: Settings) -> Settings:
    """``settings`` with the service's business settings (plans, prices, ...) from its database,
    so that a command knows a plan an operator added in /admin."""
    upgrade_database(settings.resolved_database_url)

    async def read() -> Settings:
        db = Database(settings.resolved_database_url)
        try:
            version = await current_version(db)
        finally:
            await db.dispose()
        return settings if version is None else apply_values(settings, version.values)

    return asyncio.run(read())


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="grokimagine", description=__doc__)
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="run the API (and, by default, a worker)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API processes on this port (each with its in-process worker unless --no-worker)",
    )
    serve.add_argument("--no-worker", action="store_true", help="run no in-process worker")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(run=_serve, needs_service=False)

    worker = commands.add_parser("worker", help="run only the worker loop")
    worker.set_defaults(run=_worker)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(run=lambda settings, args: _migrate(settings), needs_service=False)

    keys = commands.add_parser("keys", help="create, list and revoke API keys")
    key_commands = keys.add_subparsers(title="keys commands", required=True)
    create = key_commands.add_parser(
        "create", help="create an account with a key, or add a key to --account"
    )
    create.add_argument("--plan", default="free", help="a plan of GROKIMAGINE_PLANS or a default")
    create.add_argument("--credits", type=int, default=0)
    create.add_argument("--allow-spicy", action="store_true")
    create.add_argument("--name", default="")
    create.add_argument("--account", help="add a key to this existing account")
    create.add_argument("--test", action="store_true", help="a gi_test_ key (no charges)")
    create.set_defaults(run=_keys_create)
    revoke = key_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    revoke.set_defaults(run=_keys_revoke)
    listing = key_commands.add_parser("list", help="list keys (never their tokens)")
    listing.add_argument("--account")
    listing.set_defaults(run=_keys_list)

    credit = commands.add_parser("credits", help="grant or deduct credits")
    credit_commands = credit.add_subparsers(title="credits commands", required=True)
    add = credit_commands.add_parser("add", help="add credits to an account")
    add.add_argument("account_id")
    add.add_argument("amount", type=int)
    add.add_argument("--reason", default="granted from the command line")
    add.set_defaults(run=_credits_add)
    deduct = credit_commands.add_parser("deduct", help="take credits (never below 0)")
    deduct.add_argument("account_id")
    deduct.add_argument("amount", type=int)
    deduct.add_argument("--reason", required=True)
    deduct.set_defaults(run=_credits_deduct)

    user = commands.add_parser("users", help="create console users (people who sign in)")
    user_commands = user.add_subparsers(title="users commands", required=True)
    user_create = user_commands.add_parser(
        "create",
        help="create a user; the password is prompted for, or read from stdin when piped",
    )
    user_create.add_argument("--email", required=True)
    user_create.add_argument("--admin", action="store_true", help="an operator (admin pages)")
    user_create.add_argument(
        "--account", help="the user's account; unset: a new account on the free plan"
    )
    user_create.set_defaults(run=_users_create)

    account = commands.add_parser("accounts", help="list and change accounts")
    account_commands = account.add_subparsers(title="accounts commands", required=True)
    account_commands.add_parser("list", help="list accounts").set_defaults(run=_accounts_list)
    for name, help_text in (
        ("disable", "refuse the account's keys (403 ACCOUNT_DISABLED)"),
        ("enable", "accept the account's keys again"),
    ):
        change = account_commands.add_parser(name, help=help_text)
        change.add_argument("account_id")
        change.set_defaults(run=_accounts_toggle, action=name)
    plan = account_commands.add_parser("plan", help="move an account to another plan")
    plan.add_argument("account_id")
    plan.add_argument("plan")
    plan.set_defaults(run=_accounts_plan)
    spicy = account_commands.add_parser("spicy", help="allow (on) or forbid (off) spicy")
    spicy.add_argument("account_id")
    spicy.add_argument("state", choices=["on", "off"])
    spicy.set_defaults(run=_accounts_spicy)

    plans = commands.add_parser("plans", help="list the plans in force")
    plans.set_defaults(run=_plans_list)

    admin = commands.add_parser("admin-keys", help="create, list and revoke admin keys")
    admin_commands = admin.add_subparsers(title="admin-keys commands", required=True)
    admin_create = admin_commands.add_parser("create", help="make a gi_admin_ key for /admin/v1")
    admin_create.add_argument("--name", default="")
    admin_create.set_defaults(run=_admin_keys_create)
    admin_commands.add_parser("list", help="list admin keys").set_defaults(run=_admin_keys_list)
    admin_revoke = admin_commands.add_parser("revoke", help="revoke an admin key by its id")
    admin_revoke.add_argument("key_id")
    admin_revoke.set_defaults(run=_admin_keys_revoke)

    client_cli.add_commands(commands)
    return parser


def _migrate(settings: Settings) -> int:
    upgrade_database(settings.resolved_database_url)
    print("database is up to date")
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from grokimagine.http.connections import PROTOCOL_PATH
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
    demo = asyncio.run(_ensure_demo_account(settings))
    # Operator commands run from any folder find this service (and never make an empty one).
    recorded = write_record(
        data_dir=settings.data_dir,
        database_url=settings.resolved_database_url,
        base_url=settings.public_url or base_url,
    )
    # Made once here (the URL-signing secret of local storage), not raced for by N processes.
    build_file_store(settings, base_url)
    # Each API process reads its settings from the environment, like this one.
    if not settings.public_url:
        os.environ["GROKIMAGINE_PUBLIC_URL"] = base_url
    if args.no_worker:
        os.environ["GROKIMAGINE_IN_PROCESS_WORKER"] = "false"
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


async def _ensure_demo_account(settings: Settings) -> DemoSignIn | None:
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


def _worker(settings: Settings, args: argparse.Namespace) -> int:
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


def _run_db(settings: Settings, job: Callable[[Database], Awaitable[T]]) -> T:
    """Run one database job from the command line, on an up-to-date schema."""

    async def go() -> T:
        db = Database(settings.resolved_database_url)
        try:
            return await job(db)
        finally:
            await db.dispose()

    upgrade_database(settings.resolved_database_url)
    return asyncio.run(go())


def _keys_create(settings: Settings, args: argparse.Namespace) -> int:
    async def job(db: Database) -> accounts.NewKey:
        account_id = args.account
        if account_id is None:
            account = await accounts.create_account(
                db,
                plan=args.plan,
                credits_granted=args.credits,
                allow_spicy=args.allow_spicy,
                name=args.name,
                plans=plan_catalog(settings),
                actor=CLI,
            )
            account_id = account.id
            print(f"account {account.id} (plan {account.plan}, {account.balance} credits)")
        return await accounts.create_key(db, account_id, live=not args.test, actor=CLI)

    new_key = _run_db(settings, job)
    print(f"key {new_key.key.id} for {new_key.key.account_id}; the token, shown only once:")
    print(new_key.token)
    return 0


def _keys_revoke(settings: Settings, args: argparse.Namespace) -> int:
    revoked = _run_db(settings, lambda db: accounts.revoke_key(db, args.key_id, actor=CLI))
    print(f"revoked {args.key_id}" if revoked else f"no active key {args.key_id}")
    return 0 if revoked else 1


def _keys_list(settings: Settings, args: argparse.Namespace) -> int:
    keys = _run_db(settings, lambda db: accounts.list_keys(db, args.account))
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        print(f"{key.id}\t{key.account_id}\t{key.token_prefix}...\t{key.kind}\t{state}")
    return 0


def _credits_add(settings: Settings, args: argparse.Namespace) -> int:
    balance = _run_db(
        settings, lambda db: account_admin.grant(db, CLI, args.account_id, args.amount, args.reason)
    )
    print(f"{args.account_id} balance: {balance}")
    return 0


def _read_password() -> str:
    """The new user's password: typed twice at a terminal, or the first line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != first:
            raise ValueError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _users_create(settings: Settings, args: argparse.Namespace) -> int:
    password = _read_password()
    user = _run_db(
        settings,
        lambda db: users.create_user(
            db, email=args.email, password=password, account_id=args.account, admin=args.admin
        ),
    )
    role = "operator" if user.is_admin else "user"
    print(f"{role} {user.email} ({user.id}) in account {user.account_id}")
    return 0


def _credits_deduct(settings: Settings, args: argparse.Namespace) -> int:
    balance = _run_db(
        settings,
        lambda db: account_admin.deduct(db, CLI, args.account_id, args.amount, args.reason),
    )
    print(f"{args.account_id} balance: {balance}")
    return 0


def _accounts_toggle(settings: Settings, args: argparse.Namespace) -> int:
    change = (
        account_admin.disable_account if args.action == "disable" else account_admin.enable_account
    )
    account = _run_db(settings, lambda db: change(db, CLI, args.account_id))
    print(f"{account.id} {'disabled' if account.disabled_at else 'enabled'}")
    return 0


def _accounts_plan(settings: Settings, args: argparse.Namespace) -> int:
    account = _run_db(
        settings,
        lambda db: account_admin.change_plan(
            db, CLI, args.account_id, args.plan, plan_catalog(settings)
        ),
    )
    print(f"{account.id} plan: {account.plan}")
    return 0


def _accounts_spicy(settings: Settings, args: argparse.Namespace) -> int:
    allowed = args.state == "on"
    account = _run_db(
        settings, lambda db: account_admin.set_spicy(db, CLI, args.account_id, allowed)
    )
    print(f"{account.id} spicy: {'allowed' if account.allow_spicy else 'forbidden'}")
    return 0


def _plans_list(settings: Settings, args: argparse.Namespace) -> int:
    for plan in plan_catalog(settings):
        active = "-" if plan.max_active_tasks is None else str(plan.max_active_tasks)
        spicy = "spicy" if plan.allow_spicy else "-"
        print(
            f"{plan.name}\t{plan.requests_per_minute} rpm\t{spicy}\tactive {active}\t"
            f"monthly {plan.monthly_credits}"
        )
    return 0


def _admin_keys_create(settings: Settings, args: argparse.Namespace) -> int:
    new_key = _run_db(settings, lambda db: admin_keys.create_admin_key(db, CLI, args.name))
    print(f"admin key {new_key.key.id}; the token, shown only once:")
    print(new_key.token)
    return 0


def _admin_keys_list(settings: Settings, args: argparse.Namespace) -> int:
    for key in _run_db(settings, admin_keys.list_admin_keys):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        print(f"{key.id}\t{key.token_prefix}...\t{state}\t{key.name}")
    return 0


def _admin_keys_revoke(settings: Settings, args: argparse.Namespace) -> int:
    revoked = _run_db(settings, lambda db: admin_keys.revoke_admin_key(db, CLI, args.key_id))
    print(f"revoked {args.key_id}" if revoked else f"no active admin key {args.key_id}")
    return 0 if revoked else 1


def _accounts_list(settings: Settings, args: argparse.Namespace) -> int:
    for account in _run_db(settings, accounts.list_accounts):
        spicy = "spicy" if account.allow_spicy else "-"
        state = "\tdisabled" if account.disabled_at else ""
        print(f"{account.id}\t{account.plan}\t{account.balance}\t{spicy}\t{account.name}{state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
