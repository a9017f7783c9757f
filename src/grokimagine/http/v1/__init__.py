"""The public API under ``/v1``: routes and their schemas."""
