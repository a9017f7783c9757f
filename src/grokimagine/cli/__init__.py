"""The ``grokimagine`` command: serve the API, run a worker, manage accounts, keys and credits;
and, as a client of a running server, generate and follow videos (the commands of
``grokimagine-client``, the SDK's command line, which it delegates to).

This module only parses: each command's module (``serve``, ``operator``) is imported when that
command runs, so that ``--help`` and the operator commands answer at once instead of loading the
server, the engines or boto3 first (tests/cli/test_start.py checks what each command loads).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from grokimagine_client import cli as client_cli

if TYPE_CHECKING:
    from grokimagine.settings import Settings

Command = Callable[["Settings", argparse.Namespace], int | None]


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
    from grokimagine.domain.accounts.accounts import AccountNotFoundError
    from grokimagine.domain.billing.credits import (
        MAX_BALANCE,
        BalanceLimitError,
        BalanceTooLowError,
    )
    from grokimagine.domain.billing.plans import UnknownPlanError
    from grokimagine.domain.operator.business_settings import check_business_settings
    from grokimagine.ops.logs import configure_logging
    from grokimagine.ops.service_record import NoServiceError, find_service
    from grokimagine.settings import Settings

    settings = Settings()
    configure_logging(settings.log_format)
    try:
        check_business_settings(settings)
        if getattr(args, "needs_service", True):
            # Commands other than serve and migrate act on the recorded service (never an
            # empty database made in the current folder), with its saved business settings.
            from grokimagine.cli.service import with_business_settings

            settings = with_business_settings(find_service(settings))
        return int(args.run(settings, args) or 0)
    except NoServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except AccountNotFoundError as exc:
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


def _lazy(target: str) -> Command:
    """The command ``module.function`` of this package, imported only when it runs."""
    module_name, function_name = target.rsplit(".", 1)

    def run(settings: Settings, args: argparse.Namespace) -> int | None:
        module = importlib.import_module(f"{__name__}.{module_name}")
        command: Command = getattr(module, function_name)
        return command(settings, args)

    return run


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
    serve.set_defaults(run=_lazy("serve.serve"), needs_service=False)

    worker = commands.add_parser("worker", help="run only the worker loop")
    worker.set_defaults(run=_lazy("serve.worker"))

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(run=_lazy("serve.migrate"), needs_service=False)

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
    create.set_defaults(run=_lazy("operator.keys_create"))
    revoke = key_commands.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    revoke.set_defaults(run=_lazy("operator.keys_revoke"))
    listing = key_commands.add_parser("list", help="list keys (never their tokens)")
    listing.add_argument("--account")
    listing.set_defaults(run=_lazy("operator.keys_list"))

    credit = commands.add_parser("credits", help="grant or deduct credits")
    credit_commands = credit.add_subparsers(title="credits commands", required=True)
    add = credit_commands.add_parser("add", help="add credits to an account")
    add.add_argument("account_id")
    add.add_argument("amount", type=int)
    add.add_argument("--reason", default="granted from the command line")
    add.set_defaults(run=_lazy("operator.credits_add"))
    deduct = credit_commands.add_parser("deduct", help="take credits (never below 0)")
    deduct.add_argument("account_id")
    deduct.add_argument("amount", type=int)
    deduct.add_argument("--reason", required=True)
    deduct.set_defaults(run=_lazy("operator.credits_deduct"))

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
    user_create.set_defaults(run=_lazy("operator.users_create"))

    account = commands.add_parser("accounts", help="list and change accounts")
    account_commands = account.add_subparsers(title="accounts commands", required=True)
    account_commands.add_parser("list", help="list accounts").set_defaults(
        run=_lazy("operator.accounts_list")
    )
    for name, help_text in (
        ("disable", "refuse the account's keys (403 ACCOUNT_DISABLED)"),
        ("enable", "accept the account's keys again"),
    ):
        change = account_commands.add_parser(name, help=help_text)
        change.add_argument("account_id")
        change.set_defaults(run=_lazy("operator.accounts_toggle"), action=name)
    plan = account_commands.add_parser("plan", help="move an account to another plan")
    plan.add_argument("account_id")
    plan.add_argument("plan")
    plan.set_defaults(run=_lazy("operator.accounts_plan"))
    spicy = account_commands.add_parser("spicy", help="allow (on) or forbid (off) spicy")
    spicy.add_argument("account_id")
    spicy.add_argument("state", choices=["on", "off"])
    spicy.set_defaults(run=_lazy("operator.accounts_spicy"))

    plans = commands.add_parser("plans", help="list the plans in force")
    plans.set_defaults(run=_lazy("operator.plans_list"))

    admin = commands.add_parser("admin-keys", help="create, list and revoke admin keys")
    admin_commands = admin.add_subparsers(title="admin-keys commands", required=True)
    admin_create = admin_commands.add_parser("create", help="make a gi_admin_ key for /admin/v1")
    admin_create.add_argument("--name", default="")
    admin_create.set_defaults(run=_lazy("operator.admin_keys_create"))
    admin_commands.add_parser("list", help="list admin keys").set_defaults(
        run=_lazy("operator.admin_keys_list")
    )
    admin_revoke = admin_commands.add_parser("revoke", help="revoke an admin key by its id")
    admin_revoke.add_argument("key_id")
    admin_revoke.set_defaults(run=_lazy("operator.admin_keys_revoke"))

    client_cli.add_commands(commands)
    return parser
