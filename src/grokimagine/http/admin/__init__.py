"""The admin API under ``/admin/v1`` and the operators' liveness, readiness and metrics routes."""
