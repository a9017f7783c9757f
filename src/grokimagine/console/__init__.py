"""The web console: customer pages under ``/console``, operator pages under ``/admin``.

Like ``http/``, it parses, calls one domain function and presents; it holds no SQL and no rule.
"""
