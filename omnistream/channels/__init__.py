"""Channel adapters: pure translation plus I/O (HTTP, SMTP, IMAP), never SQL.

`registry` holds the adapters the outbound sender uses; each channel (WhatsApp, Instagram,
Messenger, Email) brings its own folder and registers its adapter there.
"""
