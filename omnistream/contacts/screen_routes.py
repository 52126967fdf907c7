"""The contacts screen's extras under /api/v1/contacts: notes about a contact, previews
of a merge and of a delete, and the CSV import and export (the attribute definitions are in
attribute_routes.py). Mounted before contacts/routes.py, so
/contacts/export.csv is not read as a contact id."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.contacts import csv_service, note_service, service
from omnistream.contacts.page_schemas import (
    ContactNoteIn,
    ContactNoteOut,
    DeletePreview,
    ImportReport,
    MergePreview,
)
from omnistream.context import Ctx, Reads
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import transaction
from omnistream.kit.openapi import problems, upload_body
from omnistream.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, page_of
from omnistream.kit.text import contains_pattern

router = APIRouter(tags=["contacts"])
BASE = "/api/v1/contacts"
ONE = f"{BASE}/{{contact_id}}"
Reader = Annotated[Principal, requires(Perm.CONTACTS_READ)]
Writer = Annotated[Principal, requires(Perm.CONTACTS_WRITE)]
Cursor = Annotated[str | None, Query(max_length=500)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}


@router.get(
    f"{BASE}/export.csv",
    response_class=StreamingResponse,
    responses=CSV,
    summary="The contacts the caller may see as CSV (attribute columns after the fixed ones)",
)
async def export_contacts(
    ctx: Ctx,
    reads: Reads,
    principal: Annotated[Principal, requires(Perm.CONTACTS_EXPORT)],
    q: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
) -> StreamingResponse:
    return csv_service.export(
        reads.connection,  # the replica's when fit (docs/read-replica.md)
        Scope.of(principal),
        contains_pattern(q),
        service.phone_patterns(q, ctx.settings.default_region),
    )


@router.post(
    f"{BASE}/import",
    response_model=ImportReport,
    summary="Import contacts from a CSV file (multipart field 'file'): every row or none",
    openapi_extra=upload_body(),
    responses=problems(409, 413, 415),
)
async def import_contacts(
    ctx: Ctx,
    request: Request,
    actor: Annotated[Principal, requires(Perm.CONTACTS_IMPORT)],
    dry_run: Annotated[bool, Query(description="Check every row and write nothing")] = False,
) -> ImportReport:
    data = await csv_service.read_upload(request)
    async with transaction(ctx.pool) as tx:
        parsed = await csv_service.read_file(tx, data, ctx.settings.default_region)
        return await csv_service.import_contacts(tx, actor, parsed, dry_run)


@router.get(f"{ONE}/notes", response_model=Page[ContactNoteOut], summary="Notes about the contact")
async def list_notes(
    ctx: Ctx,
    contact_id: UUID,
    principal: Reader,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ContactNoteOut]:
    after = decode_cursor(cursor, datetime, UUID) if cursor else None
    async with ctx.pool.acquire() as conn:
        notes = await note_service.page(conn, Scope.of(principal), contact_id, after, limit + 1)
    kept, next_cursor = page_of(notes, limit, lambda n: (n.created_at, n.id))
    return Page[ContactNoteOut](items=kept, next_cursor=next_cursor)


@router.post(
    f"{ONE}/notes",
    status_code=201,
    response_model=ContactNoteOut,
    summary="Add a note about the contact",
)
async def add_note(
    ctx: Ctx, contact_id: UUID, body: ContactNoteIn, actor: Writer
) -> ContactNoteOut:
    async with transaction(ctx.pool) as tx:
        return await note_service.add(tx, actor, contact_id, body.body)


@router.delete(
    f"{ONE}/notes/{{note_id}}",
    status_code=204,
    summary="Delete one's own note about the contact",
    responses=problems(403),
)
async def delete_note(ctx: Ctx, contact_id: UUID, note_id: UUID, actor: Writer) -> Response:
    async with transaction(ctx.pool) as tx:
        await note_service.delete(tx, actor, contact_id, note_id)
    return Response(status_code=204)


@router.get(
    f"{ONE}/merge-preview",
    response_model=MergePreview,
    summary="What merging other_contact_id into this contact would move (the merge does it)",
)
async def merge_preview(
    ctx: Ctx,
    contact_id: UUID,
    other_contact_id: UUID,
    actor: Annotated[Principal, requires(Perm.CONTACTS_MERGE)],
) -> MergePreview:
    async with transaction(ctx.pool) as tx:
        return await service.merge_preview(tx, actor, contact_id, other_contact_id)


@router.get(
    f"{ONE}/delete-preview",
    response_model=DeletePreview,
    summary="How many conversations and notes a delete would take along",
)
async def delete_preview(
    ctx: Ctx, contact_id: UUID, principal: Annotated[Principal, requires(Perm.CONTACTS_DELETE)]
) -> DeletePreview:
    async with ctx.pool.acquire() as conn:
        return await service.delete_preview(conn, Scope.of(principal), contact_id)
