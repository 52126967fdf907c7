"""Domain-free helpers: errors, pagination, logging, enums."""
