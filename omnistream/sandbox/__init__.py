"""The local Meta Graph API sandbox: WhatsApp Cloud API, Messenger and Instagram sends,
media, templates, signed status webhooks, customer play, fault injection and recording.

See docs/sandbox.md. Run it with `omnistream sandbox`; build it with create_sandbox().
"""

from omnistream.sandbox.app import create_sandbox
from omnistream.sandbox.config import AccountConfig, SandboxConfig, StatusTiming, TemplateConfig

__all__ = ["AccountConfig", "SandboxConfig", "StatusTiming", "TemplateConfig", "create_sandbox"]
