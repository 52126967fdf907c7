"""Database access: pool, transactions, migrations, embedded server."""
