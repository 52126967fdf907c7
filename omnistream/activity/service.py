"""Recording and reading the audit trail."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from omnistream.activity import queries
from omnistream.auth.principal import Principal
from omnistream.db.pool import Conn


async def record(
    conn: Conn,
    actor: Principal | UUID | None,
    action: str,
    target_type: str | None = None,
    target_id: UUID | None = None,
    **metadata: Any,
) -> None:
    agent_id = actor.agent_id if isinstance(actor, Principal) else actor
    clean = {k: (str(v) if isinstance(v, UUID) else v) for k, v in metadata.items()}
    await queries.insert(conn, agent_id, action, target_type, target_id, clean)
