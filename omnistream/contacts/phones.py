"""Phone numbers as people write them, read as WhatsApp ids (E.164 digits without '+')."""

from __future__ import annotations

from contextvars import ContextVar

import phonenumbers

# The region a national number ("0812 …") is read in: the server's default region. The contact
# routes set it per request in a dependency, which FastAPI resolves before it validates the
# body, so a bad phone is reported together with the body's other errors.
PHONE_REGION: ContextVar[str | None] = ContextVar("phone_region", default=None)


def whatsapp_id(raw: str, region: str) -> str | None:
    """Any usual spelling of a number -> its WhatsApp id; None if it is not a valid number."""
    candidates = [raw]
    if raw[:1].isdigit() and not raw.startswith("0"):
        candidates.append("+" + raw)  # already a WhatsApp id (country code, no '+')
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
    return None


def phone_example(region: str) -> str | None:
    """A valid mobile number of the region as people write it internationally."""
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return None
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def invalid_phone_message(example: str | None) -> str:
    if example is None:
        return "Not a valid phone number (start with + and the country code)"
    return f"Not a valid phone number (for example {example})"
