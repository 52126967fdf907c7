"""GET /api/v1/system: the API and worker processes (heartbeats) and the backlogs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from omnistream.auth.guard import requires
from omnistream.auth.permissions import Perm
from omnistream.auth.principal import Principal
from omnistream.context import Ctx
from omnistream.metrics.queries import BACKLOG_CAP, backlogs
from omnistream.system import queries
from omnistream.system.schemas import BacklogOut, LoopOut, ProcessOut, SystemOut

router = APIRouter(prefix="/api/v1/system", tags=["system"])


@router.get(
    "",
    response_model=SystemOut,
    summary="The processes and the worker backlogs",
    description="Every `omnistream serve` and `omnistream worker` process with a heartbeat "
    "(alive, or gone for less than a day), the state of its worker loops, and what the "
    "queue-draining loops have waiting. Read from the primary: it is the processes' own "
    "record, and a replica's lag would show live processes as gone.",
)
async def system(ctx: Ctx, _: Annotated[Principal, requires(Perm.SYSTEM_READ)]) -> SystemOut:
    async with ctx.pool.acquire() as conn:
        rows = await queries.processes(conn)
        waiting = await backlogs(conn)
        checked_at = rows[0]["checked_at"] if rows else await queries.now(conn)
    return SystemOut(
        checked_at=checked_at,
        processes=[
            ProcessOut(
                id=r["id"],
                kind=r["kind"],
                host=r["host"],
                pid=r["pid"],
                version=r["version"],
                started_at=r["started_at"],
                last_beat_at=r["last_beat_at"],
                beat_seconds=r["beat_seconds"],
                alive=r["alive"],
                loops=_loops(r["loops"]),
            )
            for r in rows
        ],
        backlogs=[
            BacklogOut(
                name=name,
                count=b.count,
                cap=BACKLOG_CAP,
                oldest_age_seconds=b.oldest_age_seconds,
            )
            for name, b in waiting.items()
        ],
    )


def _loops(loops: dict[str, Any]) -> list[LoopOut]:
    return [LoopOut(name=name, **state) for name, state in sorted(loops.items())]
