"""Operating the service: Prometheus metrics, structured logs, health checks."""
