"""Shapes of the contacts screen's extras: notes, previews of a merge and a delete, and the
report of a CSV import."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from omnistream.contacts.schemas import Identity
from omnistream.kit.openapi import NON_BLANK

NoteBody = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=5000, pattern=r"^[^\x00]*$"),
    NON_BLANK,
]


class ContactNoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: NoteBody


class ContactNoteOut(BaseModel):
    id: UUID
    contact_id: UUID
    author_id: UUID | None = Field(description="null once the author's account is deleted")
    author_name: str | None
    body: str
    created_at: datetime


class MergePreview(BaseModel):
    """What merging other_contact_id into contact_id moves: the merge does exactly this."""

    contact_id: UUID = Field(description="The contact kept")
    other_contact_id: UUID = Field(description="The contact merged in and then deleted")
    conversations: int = Field(description="Conversations that move (all of them, any channel)")
    notes: int = Field(description="Notes about the contact that move")
    identities: list[Identity] = Field(description="Channel ids that move")
    fields: dict[str, str] = Field(
        description="name / phone / email / profile_pic_url the kept contact lacks, taken over"
    )
    attributes: dict[str, Any] = Field(
        description="Attributes the kept contact lacks, taken over (its own values win)"
    )


class DeletePreview(BaseModel):
    contact_id: UUID
    conversations: int = Field(description="Conversations deleted with the contact")
    notes: int


class ImportRowError(BaseModel):
    line: int = Field(description="The line of the file the row starts on (1 = the header)")
    field: str = Field(description="name, phone, email or attributes.<key>")
    message: str
    type: str


class ImportReport(BaseModel):
    dry_run: bool
    rows: int = Field(description="Rows read (blank rows are skipped)")
    created: int = Field(description="Contacts created (0 on a dry run or with any error)")
    errors: list[ImportRowError] = Field(
        description="Every bad row: when there is one, nothing is written"
    )
    ignored_columns: list[str] = Field(description="Header names matching nothing")
    contact_ids: list[UUID] = Field(default_factory=list, description="The contacts created")
