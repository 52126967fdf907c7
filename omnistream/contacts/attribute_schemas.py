"""Custom contact attributes: the definitions admins manage and the values contacts hold."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from omnistream.kit.openapi import NON_BLANK

AttributeType = Literal["text", "number", "date", "list"]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
Label = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), NON_BLANK
]
Option = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^\x00]*$"),
]
Options = Annotated[list[Option], Field(max_length=100)]


def _unique(options: list[str] | None) -> None:
    if options is not None and len(set(options)) != len(options):
        raise ValueError("options must be different from each other")


class AttributeOut(BaseModel):
    id: UUID
    key: str = Field(description="What the API and CSV columns use; never changes")
    label: str
    type: AttributeType
    options: list[str] = Field(description="The choices of a list attribute (else empty)")
    created_at: datetime
    updated_at: datetime


class AttributeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: Key = Field(description="Lower case letters, digits and _, starting with a letter")
    label: Label
    type: AttributeType
    options: Options = Field(default_factory=list, description="Required for list, else empty")

    @model_validator(mode="after")
    def _options_fit_the_type(self) -> Self:
        _unique(self.options)
        if self.type == "list" and not self.options:
            raise ValueError("a list attribute needs at least one option")
        if self.type != "list" and self.options:
            raise ValueError("only a list attribute has options")
        return self


class AttributeUpdate(BaseModel):
    """Only the fields sent change. A type change is refused (409) while any contact has a
    value for the attribute; removing an option some contact holds is refused (409)."""

    model_config = ConfigDict(extra="forbid")

    label: Label | None = None
    type: AttributeType | None = None
    options: Options | None = None

    @model_validator(mode="after")
    def _distinct_options(self) -> Self:
        _unique(self.options)
        return self
