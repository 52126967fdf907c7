"""Prometheus metrics: the /metrics endpoint, request and loop instruments, backlogs."""
