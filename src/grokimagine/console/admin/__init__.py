"""The operators' pages under /admin: accounts and people, tasks, keys, money, business
settings, usage, the fleet and the audit log."""
