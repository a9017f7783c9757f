"""The operator's commands: keys, credits, users, accounts, plans and admin keys, each one
database job on an up-to-date schema."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from grokimagine.domain.accounts import accounts, admin_keys, users
from grokimagine.domain.accounts.audit import CLI
from grokimagine.domain.billing.plans import plan_catalog
from grokimagine.domain.operator import accounts as account_admin
from grokimagine.settings import Settings
from grokimagine.storage.db import Database
from grokimagine.storage.migrate import upgrade_database

T = TypeVar("T")


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


def keys_create(settings: Settings, args: argparse.Namespace) -> int:
    """Create an account with a key, or add a key to ``--account``."""

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


def keys_revoke(settings: Settings, args: argparse.Namespace) -> int:
    """Revoke a key by its id (exit 1 when there is no such active key)."""
    revoked = _run_db(settings, lambda db: accounts.revoke_key(db, args.key_id, actor=CLI))
    print(f"revoked {args.key_id}" if revoked else f"no active key {args.key_id}")
    return 0 if revoked else 1


def keys_list(settings: Settings, args: argparse.Namespace) -> int:
    """List keys, never their tokens."""
    keys = _run_db(settings, lambda db: accounts.list_keys(db, args.account))
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        print(f"{key.id}\t{key.account_id}\t{key.token_prefix}...\t{key.kind}\t{state}")
    return 0


def credits_add(settings: Settings, args: argparse.Namespace) -> int:
    """Grant credits to an account."""
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


def users_create(settings: Settings, args: argparse.Namespace) -> int:
    """Create a console user; the password is prompted for, or read from stdin."""
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


def credits_deduct(settings: Settings, args: argparse.Namespace) -> int:
    """Take credits from an account (never below 0)."""
    balance = _run_db(
        settings,
        lambda db: account_admin.deduct(db, CLI, args.account_id, args.amount, args.reason),
    )
    print(f"{args.account_id} balance: {balance}")
    return 0


def accounts_toggle(settings: Settings, args: argparse.Namespace) -> int:
    """Disable or enable an account's keys."""
    change = (
        account_admin.disable_account if args.action == "disable" else account_admin.enable_account
    )
    account = _run_db(settings, lambda db: change(db, CLI, args.account_id))
    print(f"{account.id} {'disabled' if account.disabled_at else 'enabled'}")
    return 0


def accounts_plan(settings: Settings, args: argparse.Namespace) -> int:
    """Move an account to another plan."""
    account = _run_db(
        settings,
        lambda db: account_admin.change_plan(
            db, CLI, args.account_id, args.plan, plan_catalog(settings)
        ),
    )
    print(f"{account.id} plan: {account.plan}")
    return 0


def accounts_spicy(settings: Settings, args: argparse.Namespace) -> int:
    """Allow or forbid spicy for an account."""
    allowed = args.state == "on"
    account = _run_db(
        settings, lambda db: account_admin.set_spicy(db, CLI, args.account_id, allowed)
    )
    print(f"{account.id} spicy: {'allowed' if account.allow_spicy else 'forbidden'}")
    return 0


def plans_list(settings: Settings, args: argparse.Namespace) -> int:
    """List the plans in force."""
    for plan in plan_catalog(settings):
        active = "-" if plan.max_active_tasks is None else str(plan.max_active_tasks)
        spicy = "spicy" if plan.allow_spicy else "-"
        print(
            f"{plan.name}\t{plan.requests_per_minute} rpm\t{spicy}\tactive {active}\t"
            f"monthly {plan.monthly_credits}"
        )
    return 0


def admin_keys_create(settings: Settings, args: argparse.Namespace) -> int:
    """Make a gi_admin_ key for /admin/v1."""
    new_key = _run_db(settings, lambda db: admin_keys.create_admin_key(db, CLI, args.name))
    print(f"admin key {new_key.key.id}; the token, shown only once:")
    print(new_key.token)
    return 0


def admin_keys_list(settings: Settings, args: argparse.Namespace) -> int:
    """List admin keys, never their tokens."""
    for key in _run_db(settings, admin_keys.list_admin_keys):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        print(f"{key.id}\t{key.token_prefix}...\t{state}\t{key.name}")
    return 0


def admin_keys_revoke(settings: Settings, args: argparse.Namespace) -> int:
    """Revoke an admin key by its id (exit 1 when there is no such active key)."""
    revoked = _run_db(settings, lambda db: admin_keys.revoke_admin_key(db, CLI, args.key_id))
    print(f"revoked {args.key_id}" if revoked else f"no active admin key {args.key_id}")
    return 0 if revoked else 1


def accounts_list(settings: Settings, args: argparse.Namespace) -> int:
    """List accounts."""
    for account in _run_db(settings, accounts.list_accounts):
        spicy = "spicy" if account.allow_spicy else "-"
        state = "\tdisabled" if account.disabled_at else ""
        print(f"{account.id}\t{account.plan}\t{account.balance}\t{spicy}\t{account.name}{state}")
    return 0
