"""In-app notifications of one agent (mentions in notes, woken snoozes, ...)."""
