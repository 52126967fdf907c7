"""/api/v1 routes of conversations."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["conversations"])
