"""What operators do to people: invite a user to an account, make or unmake an operator, send a
password-reset link, disable and enable a user. Each change is audited in its own transaction;
emails go out after it commits (see domain/accounts/link_emails.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from grokimagine.domain.accounts import users
from grokimagine.domain.accounts.accounts import AccountNotFoundError
from grokimagine.domain.accounts.audit import Actor, record_action
from grokimagine.domain.accounts.link_emails import SentLink, email_link
from grokimagine.domain.accounts.tokens import (
    PASSWORD_PURPOSES,
    issue_link_token,
    spend_open_links,
)
from grokimagine.domain.clock import iso_utc, utcnow
from grokimagine.settings import SmtpSettings
from grokimagine.storage.db import Database, DbConnection
from grokimagine.storage.schema import accounts, sessions
from grokimagine.storage.schema import users as users_table


class UserNotFoundError(LookupError):
    """No user has that id."""


class SelfLockoutError(ValueError):
    """An operator cannot disable themself or take away their own operator role."""


@dataclass(frozen=True)
class Invitation:
    """A user just invited, and the email that carries their link."""

    user: users.User
    sent: SentLink


async def _locked_user(conn: DbConnection, user_id: str) -> users.User:
    row = (
        await conn.execute(select(users_table).where(users_table.c.id == user_id).with_for_update())
    ).first()
    if row is None:
        raise UserNotFoundError(user_id)
    return users._user(row)


def _described(user: users.User) -> dict[str, object]:
    return {
        "email": user.email,
        "account_id": user.account_id,
        "role": user.role,
        "disabled_at": iso_utc(user.disabled_at),
    }


async def invite_user(
    db: Database,
    smtp: SmtpSettings,
    actor: Actor,
    *,
    account_id: str,
    email: str,
    admin: bool = False,
    base_url: str,
    inviter: str = "",
) -> Invitation:
    """Add a user to an account with no password yet and email them a single-use link where
    they choose one.

    Raises :class:`~grokimagine.domain.accounts.users.UserError` (bad email),
    :class:`~grokimagine.domain.accounts.users.EmailTakenError`,
    :class:`~grokimagine.domain.accounts.accounts.AccountNotFoundError`, or
    :class:`~grokimagine.net.mailer.EmailError` (the user exists; send a new link later).
    """
    email = users.normalize_email(email)
    now = utcnow()
    user = users.User(
        id=users.new_user_id(),
        email=email,
        account_id=account_id,
        role=users.ADMIN if admin else users.CUSTOMER,
        created_at=now,
        invited=True,
    )
    try:
        async with db.write() as conn:
            found = await conn.execute(select(accounts.c.id).where(accounts.c.id == account_id))
            if found.first() is None:
                raise AccountNotFoundError(account_id)
            taken = await conn.execute(select(users_table.c.id).where(users_table.c.email == email))
            if taken.first() is not None:
                raise users.EmailTakenError("A user with this email already exists")
            await conn.execute(
                insert(users_table).values(
                    id=user.id,
                    email=email,
                    password_hash=users.NO_PASSWORD,
                    account_id=account_id,
                    role=user.role,
                    created_at=now,
                    password_changed_at=now,
                )
            )
            link = await issue_link_token(
                conn, user_id=user.id, purpose="invite", created_by=actor.id
            )
            await record_action(conn, actor, "user.invite", "user", user.id, after=_described(user))
    except IntegrityError:  # a concurrent invitation of the same email won the unique index
        raise users.EmailTakenError("A user with this email already exists") from None
    sent = await email_link(
        smtp,
        to=email,
        purpose="invite",
        token=link.token,
        expires_at=link.expires_at,
        base_url=base_url,
        inviter=inviter,
    )
    return Invitation(user=user, sent=sent)


async def send_password_reset(
    db: Database, smtp: SmtpSettings, actor: Actor, user_id: str, *, base_url: str
) -> SentLink:
    """Email a user a single-use link to choose a new password (an invited user who has not
    chosen one yet gets a fresh invitation). Their password works until the link is used.

    Raises :class:`UserNotFoundError`, or :class:`~grokimagine.net.mailer.EmailError`.
    """
    async with db.write() as conn:
        user = await _locked_user(conn, user_id)
        if user.disabled_at is not None:
            raise users.UserError("This user is disabled: enable them first")
        purpose = "invite" if user.invited else "password_reset"
        link = await issue_link_token(conn, user_id=user_id, purpose=purpose, created_by=actor.id)
        await record_action(
            conn,
            actor,
            "user.password_reset" if purpose == "password_reset" else "user.invite",
            "user",
            user_id,
            after={"email": user.email, "link_expires_at": iso_utc(link.expires_at)},
        )
    return await email_link(
        smtp,
        to=user.email,
        purpose=purpose,
        token=link.token,
        expires_at=link.expires_at,
        base_url=base_url,
    )


async def set_operator(db: Database, actor: Actor, user_id: str, admin: bool) -> users.User:
    """Make a user an operator, or take the role away (never one's own)."""
    if not admin and actor.id == user_id:
        raise SelfLockoutError("You cannot take away your own operator role")
    role = users.ADMIN if admin else users.CUSTOMER
    async with db.write() as conn:
        before = await _locked_user(conn, user_id)
        if before.role == role:
            return before
        await conn.execute(update(users_table).where(users_table.c.id == user_id).values(role=role))
        # A demoted operator's open sessions carry the role they had: end them.
        if not admin:
            await conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
        after = await _locked_user(conn, user_id)
        await record_action(
            conn,
            actor,
            "user.role",
            "user",
            user_id,
            before={"role": before.role},
            after={"role": role},
        )
    return after


async def set_user_disabled(db: Database, actor: Actor, user_id: str, disabled: bool) -> users.User:
    """Disable a user (signed out everywhere, cannot sign in, their links stop working) or
    enable them again. The account and its API keys are untouched."""
    if disabled and actor.id == user_id:
        raise SelfLockoutError("You cannot disable yourself")
    async with db.write() as conn:
        before = await _locked_user(conn, user_id)
        if (before.disabled_at is not None) == disabled:
            return before
        now = utcnow()
        await conn.execute(
            update(users_table)
            .where(users_table.c.id == user_id)
            .values(disabled_at=now if disabled else None)
        )
        if disabled:
            await conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
            await spend_open_links(conn, user_id, PASSWORD_PURPOSES, now)
        after = await _locked_user(conn, user_id)
        await record_action(
            conn,
            actor,
            "user.disable" if disabled else "user.enable",
            "user",
            user_id,
            before={"disabled_at": iso_utc(before.disabled_at)},
            after={"disabled_at": iso_utc(after.disabled_at)},
        )
    return after
