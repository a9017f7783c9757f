"""Settings of what people meet: the console and its self-service, email, Stripe payments, and
the models of the OpenAI-shaped API."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from grokimagine.settings.base import SettingsGroup


class ConsoleSettings(SettingsGroup):
    """The web console (``/console``, ``/admin``): sign-up policy, sessions, sign-in limits."""

    flat_prefix = "console_"

    signup: Literal["closed", "open", "invitation"] = Field(
        "closed",
        description="closed: the operator creates users (grokimagine users create); open: "
        "anyone may sign up for a new free-plan account; invitation: only people an operator "
        "invites. Seeds the business settings on the first start; /admin/settings after.",
    )
    starter_credits: int = Field(
        0, ge=0, le=10**12, description="Credits granted to an account made by an open sign-up."
    )
    session_hours: float = Field(24.0 * 7, gt=0, description="How long a console sign-in lasts.")
    signin_limit: int = Field(
        10, ge=1, description="Sign-in (and sign-up) attempts per minute per client address."
    )
    signin_email_limit: int = Field(
        5, ge=1, description="Sign-in attempts per minute per email address."
    )


class SelfServiceSettings(SettingsGroup):
    """What customers do on their own (issue 25): email verification, two-factor sign-in."""

    flat_prefix = "selfservice_"

    verify_email: bool = Field(
        False,
        description="A sign-up must open the link emailed to it before it can make keys or videos.",
    )
    require_operator_two_factor: bool = Field(
        False,
        description="Operators must turn on two-factor sign-in before /admin opens for them.",
    )
    forgot_password_limit: int = Field(
        5, ge=1, description="Forgot-password requests per minute per client address and email."
    )


class SmtpSettings(SettingsGroup):
    """Outgoing email (invitations, password resets): an SMTP server; unset host: the log."""

    flat_prefix = "smtp_"

    host: str | None = Field(
        None, description="SMTP server; unset: emails are written to the log (and shown)."
    )
    port: int | None = Field(
        None, ge=1, le=65535, description="Port; unset: 587 (starttls), 465 (tls), 25 (none)."
    )
    security: Literal["starttls", "tls", "none"] = Field(
        "starttls", description="starttls: upgrade after connecting; tls: TLS from the start."
    )
    user: str | None = Field(None, description="User name to log in with; unset: no login.")
    password: SecretStr | None = Field(None, description="Password of that user.")
    sender: str = Field(
        "grokimagine@localhost",
        description="From: address of every email, e.g. Studio <no-reply@example.com>.",
    )
    ca_file: Path | None = Field(
        None, description="CA certificates (PEM) to trust for the server; unset: the system's."
    )
    timeout: float = Field(20.0, gt=0, description="Seconds one SMTP conversation may take.")

    @property
    def configured(self) -> bool:
        """Whether emails go to a server (otherwise to the log)."""
        return bool(self.host)

    @property
    def resolved_port(self) -> int:
        """The port to connect to: the one set, or the usual one for the security."""
        return self.port or {"starttls": 587, "tls": 465, "none": 25}[self.security]


class StripeSettings(SettingsGroup):
    """Payments through Stripe (docs/payments.md): unset secret key, no card payments."""

    flat_prefix = "stripe_"

    secret_key: SecretStr | None = Field(
        None, description="Stripe secret key (sk_test_... in test mode); unset: codes only."
    )
    webhook_secret: SecretStr | None = Field(
        None, description="Signing secret of the webhook endpoint /webhooks/stripe (whsec_...)."
    )
    api_base: str | None = Field(
        None, description="Stripe's API address; unset: https://api.stripe.com (tests: a fake)."
    )
    webhook_tolerance_seconds: int = Field(
        300, ge=1, description="Older signed webhook timestamps are refused (replay protection)."
    )

    @property
    def enabled(self) -> bool:
        """Whether customers can pay: a secret key and a webhook secret are both set."""
        return self.secret_key is not None and self.webhook_secret is not None


_MODEL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


class OpenAIApiSettings(SettingsGroup):
    """The OpenAI-shaped surface (``/v1/videos``, ``/v1/models``): the models it lists."""

    flat_prefix = "openai_api_"

    default_model: str = Field(
        "grokimagine-video",
        description="Model id of the caller's own route (by plan and mode); the default.",
    )
    models: dict[str, list[str]] = Field(
        default_factory=dict,
        description='More models, each a route: {"wan-2.2": ["diffusers", "preview"]}.',
    )

    @field_validator("default_model")
    @classmethod
    def _model_id(cls, value: str) -> str:
        if not _MODEL_ID.fullmatch(value):
            raise ValueError(f"{value!r} is not a model id (letters, digits, . _ : -)")
        return value

    @field_validator("models")
    @classmethod
    def _model_routes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for model, engines in value.items():
            if not _MODEL_ID.fullmatch(model):
                raise ValueError(f"{model!r} is not a model id (letters, digits, . _ : -)")
            if not engines or not all(engines):
                raise ValueError(f"model {model!r} needs a non-empty list of engine names")
        return value
