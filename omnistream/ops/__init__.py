"""Operational routes: health, readiness, API description."""
