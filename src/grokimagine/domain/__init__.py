"""The domain: accounts, keys, plans, modes, credits and tasks."""
