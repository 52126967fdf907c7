"""Domain events: the envelope, the transactional outbox, the dispatcher and realtime hub."""
