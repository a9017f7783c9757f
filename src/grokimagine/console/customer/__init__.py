"""The customers' pages under /console: sign-in and self-service, the overview, playground,
tasks, keys, webhooks and billing."""
