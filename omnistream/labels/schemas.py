"""Label API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from omnistream.kit.openapi import NON_BLANK

NAME_MAX = 50
# Stripped before the length check: a blank name is a 422, not a CHECK violation (500).
Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX), NON_BLANK
]
# #rrggbb (what <input type=color> gives), stored in lower case.
Colour = Annotated[
    str,
    StringConstraints(strip_whitespace=True, pattern=r"^#[0-9a-fA-F]{6}$"),
    AfterValidator(str.lower),
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class LabelBrief(BaseModel):
    """A label as conversations carry it."""

    id: UUID
    name: str
    colour: str = Field(description="#rrggbb")


class LabelOut(LabelBrief):
    description: str
    created_at: datetime
    updated_at: datetime


class LabelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt field is an error, not ignored

    name: Name
    colour: Colour = Field(description="#rrggbb, e.g. #1d6fb8")
    description: Description = ""


class LabelUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    colour: Colour | None = Field(None, description="#rrggbb")
    description: Description | None = None


class LabelCount(BaseModel):
    label_id: UUID
    open: int = Field(description="Open conversations with the label that the caller may see.")


class LabelCounts(BaseModel):
    items: list[LabelCount] = Field(description="Every label, by name.")
    cap: int = Field(description="Counts stop at this number; show it as e.g. '10000+'.")


class ConversationLabelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label_id: UUID
