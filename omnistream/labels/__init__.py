"""Labels: tags admins define and agents put on conversations (issue 17)."""
