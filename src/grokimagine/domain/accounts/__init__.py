"""Accounts and people: accounts and API keys, console users and sessions, admin keys, audit."""
