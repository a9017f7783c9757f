"""Tasks: records, the worker's queue, owner control, views, events and signals, late jobs,
idempotency and webhook deliveries."""
