"""Inbound webhooks of the Meta channels: acknowledge (routes), then apply in batches (worker)."""
