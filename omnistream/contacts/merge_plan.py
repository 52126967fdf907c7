"""What merging one contact into another moves: the preview shows it and the merge does it
(both call plan_merge on the two contacts' locked rows, in one transaction each)."""

from __future__ import annotations

import asyncpg

from omnistream.contacts import attribute_queries, list_queries, queries
from omnistream.contacts.page_schemas import MergePreview
from omnistream.contacts.schemas import Identity
from omnistream.db.pool import Conn

FIELDS = ("name", "phone", "email", "profile_pic_url")


async def plan_merge(conn: Conn, keep: asyncpg.Record, other: asyncpg.Record) -> MergePreview:
    """Every conversation, note and identity of `other` moves; of its fields and attributes
    those `keep` lacks are taken over (keep's own values win)."""
    counts = await list_queries.taken_along(conn, other["id"])
    found = await queries.identities_of(conn, [other["id"]])
    attributes = await attribute_queries.attributes_of(conn, [keep["id"], other["id"]])
    held = attributes.get(keep["id"], {})
    return MergePreview(
        contact_id=keep["id"],
        other_contact_id=other["id"],
        conversations=counts["conversations"],
        notes=counts["notes"],
        identities=[Identity(channel=i["channel"], external_id=i["external_id"]) for i in found],
        fields={f: other[f] for f in FIELDS if not keep[f] and other[f]},
        attributes={k: v for k, v in attributes.get(other["id"], {}).items() if k not in held},
    )
