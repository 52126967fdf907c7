"""/api/v1/conversations/bulk: one action on many conversations, and the ids a list filter
selects (the web app's "select all matching this filter")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.bulk import service
from omnistream.bulk.schemas import MAX_ITEMS, BulkIn, BulkResult, BulkSelectIn, BulkSelection
from omnistream.context import Ctx
from omnistream.conversations.visibility import Scope
from omnistream.db.pool import transaction

router = APIRouter(tags=["conversations"])
BASE = "/api/v1/conversations/bulk"
Reader = Annotated[Principal, requires(Perm.CONVERSATIONS_READ)]
Worker = Annotated[Principal, requires(Perm.CONVERSATIONS_WORK)]


@router.post(
    BASE,
    response_model=BulkResult,
    summary=f"One action on up to {MAX_ITEMS} conversations, with a result for each",
    description="Each conversation gets exactly the checks, event and activity entry of the "
    "single action, and is done or refused as a whole (its own savepoint); the others are "
    "not affected. A refusal carries the problem the single action would answer; an id the "
    "caller may not see is refused as not found, like one that does not exist. The answer "
    "is 200 whatever was refused; a 422 (bad action, parameters, ids or filter) writes "
    "nothing.",
)
async def bulk_action(ctx: Ctx, body: BulkIn, actor: Worker) -> BulkResult:
    async with transaction(ctx.pool) as tx:
        await service.check_params(tx.conn, body)
        if body.filter is not None:
            ids, _ = await service.select(
                tx.conn, Scope.of(actor), body.filter, ctx.settings.default_region
            )
        else:
            ids = list(dict.fromkeys(body.ids or []))
        items = await service.run(tx, actor, body, ids)
    done = sum(1 for i in items if i.ok)
    return BulkResult(done=done, refused=len(items) - done, items=items)


@router.post(
    f"{BASE}/select",
    response_model=BulkSelection,
    summary=f"The ids of the conversations a list filter shows the caller (up to {MAX_ITEMS})",
)
async def bulk_select(ctx: Ctx, body: BulkSelectIn, principal: Reader) -> BulkSelection:
    async with ctx.pool.acquire() as conn:
        ids, capped = await service.select(
            conn, Scope.of(principal), body.filter, ctx.settings.default_region
        )
    return BulkSelection(ids=ids, capped=capped)
