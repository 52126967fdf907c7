"""/api/v1 routes of messages."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["messages"])
