"""The HTTP layer: routes, the response envelope, errors, authentication and rate-limit headers."""
