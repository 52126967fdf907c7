"""Messenger and Instagram (Meta page messaging): inbound webhook parsing (inbound.py)."""
