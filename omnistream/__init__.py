"""OmniStream: omnichannel customer service (WhatsApp, Instagram, Messenger, Email)."""

__version__ = "0.1.0"
