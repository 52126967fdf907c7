"""/api/v1/ws: live domain events over a WebSocket (protocol: docs/events.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, WebSocket

from omnistream.auth.guard import ws_requires
from omnistream.auth.permissions import Perm
from omnistream.context import AppContext
from omnistream.events.socket import LiveSocket

router = APIRouter(tags=["events"])


@router.websocket("/api/v1/ws")
async def live_events(
    websocket: WebSocket, perm: Annotated[Perm, ws_requires(Perm.CONVERSATIONS_READ)]
) -> None:
    """Authenticates with the first frame, then streams the events the agent may see."""
    ctx: AppContext = websocket.app.state.ctx
    await LiveSocket(ctx, websocket, perm).run()
