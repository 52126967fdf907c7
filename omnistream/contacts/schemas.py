"""Contact API shapes. Phone numbers are normalised by the service (they need the region)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Self
from uuid import UUID

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from omnistream.contacts.phones import (
    PHONE_REGION,
    invalid_phone_message,
    phone_example,
    whatsapp_id,
)
from omnistream.kit.enums import Channel

_HTTP_LINK = re.compile(r"^https?://\S+$")


def _email(value: str) -> str:
    try:
        checked = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise PydanticCustomError("email", "Not a valid email address") from None
    return checked.normalized.lower()


def _phone(value: str) -> str:
    """Checked here, with the body's other fields, when the request's region is known; the
    service stores it normalised (and checks it there when validated without a region)."""
    region = PHONE_REGION.get()
    if region is not None and whatsapp_id(value, region) is None:
        example = phone_example(region)
        raise PydanticCustomError(
            "phone", invalid_phone_message(example), {"example": example or ""}
        )
    return value


def _link(value: str) -> str:
    if not _HTTP_LINK.match(value):
        raise PydanticCustomError(
            "url_scheme",
            "Must be an http:// or https:// link",
            {"expected_schemes": "'http' or 'https'"},
        )
    return value


def _no_nul(value: str) -> str:
    if "\x00" in value:  # PostgreSQL text cannot hold it: a 422 here, not a 500 later
        raise ValueError("must not contain NUL characters")
    return value


NoNul = AfterValidator(_no_nul)
Name = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), NoNul]
# Raw input: any common way of writing a number ("0812-3456-7890", "+62 812 …").
PhoneIn = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=40),
    NoNul,
    AfterValidator(_phone),
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=320),
    NoNul,
    AfterValidator(_email),
]
PictureUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2048),
    NoNul,
    AfterValidator(_link),
]
ExternalId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoNul
]


class Identity(BaseModel):
    """A channel-scoped id of the contact (Instagram / Messenger user id, email address…)."""

    channel: Channel
    external_id: ExternalId


class IdentityOut(Identity):
    created_at: datetime


class ContactOut(BaseModel):
    id: UUID
    name: str
    phone: str | None = Field(description="WhatsApp id: E.164 digits without '+'")
    email: str | None
    profile_pic_url: str | None
    identities: list[IdentityOut]
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="Custom attributes: {key: value} (contact-attributes)"
    )
    created_at: datetime
    updated_at: datetime


class ContactListItem(ContactOut):
    last_activity_at: datetime = Field(
        description="The newest message of the contact's conversations the caller may see "
        "(the contact's creation when none)"
    )


class ContactCreate(BaseModel):
    name: Name = ""
    phone: PhoneIn | None = None
    email: Email | None = None
    profile_pic_url: PictureUrl | None = None
    identities: list[Identity] = Field(default_factory=list, max_length=20)
    attributes: dict[str, Any] = Field(
        default_factory=dict, max_length=100, description="Custom attributes {key: value}"
    )

    @model_validator(mode="after")
    def _something_to_know_them_by(self) -> Self:
        if not (self.name or self.phone or self.email or self.identities):
            raise ValueError("give at least one of name, phone, email or identities")
        return self


class ContactUpdate(BaseModel):
    """Only the fields sent change; null clears phone, email or profile_pic_url."""

    name: Name | None = None
    phone: PhoneIn | None = None
    email: Email | None = None
    profile_pic_url: PictureUrl | None = None
    attributes: dict[str, Any] | None = Field(
        None,
        max_length=100,
        description="Custom attributes to set ({key: value}; null removes one); others stay",
    )

    @field_validator("name")
    @classmethod
    def _name_not_null(cls, value: str | None) -> str:
        if value is None:  # runs only when sent: an absent name stays unchanged
            raise ValueError('cannot be null; send "" to clear it')
        return value

    @field_validator("attributes")
    @classmethod
    def _attributes_not_null(cls, value: dict[str, Any] | None) -> dict[str, Any]:
        if value is None:
            raise ValueError("cannot be null; send {} or {key: null} to remove values")
        return value


class MergeRequest(BaseModel):
    other_contact_id: UUID = Field(description="The contact merged into this one and then deleted")
