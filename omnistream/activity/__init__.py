"""The audit trail: one activity_logs row per mutating call, written in its transaction."""
