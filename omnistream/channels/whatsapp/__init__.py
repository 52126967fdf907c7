"""WhatsApp Cloud API: inbound webhook parsing (inbound.py); outbound sending joins later."""
