"""The processes of an installation and their heartbeats (admin System page, docs/system.md)."""
