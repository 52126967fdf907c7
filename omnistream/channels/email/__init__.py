"""The email channel: IMAP in, SMTP out (issue 16)."""
