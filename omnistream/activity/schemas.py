"""Activity log API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel


class ActivityOut(BaseModel):
    id: UUID
    agent_id: UUID | None
    action: str
    target_type: str | None
    target_id: UUID | None
    metadata: dict[str, Any]
    created_at: datetime
