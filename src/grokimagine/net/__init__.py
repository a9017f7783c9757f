"""Outbound HTTP that refuses to reach private addresses (server-side request forgery guard)."""
