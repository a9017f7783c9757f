"""What operators do across accounts: accounts, tasks, reports, the fleet, business settings."""
