"""/api/v1 routes of contacts."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["contacts"])
