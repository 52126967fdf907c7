"""System page API shapes: the processes' heartbeats and the worker loops' backlogs."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field


class LoopOut(BaseModel):
    name: str = Field(description="The worker loop (omnistream/worker.py LOOPS).")
    state: Literal["working", "waiting"] = Field(
        description="As of the process's last beat: working on a pass, or waiting for work "
        "(caught up)."
    )
    since: datetime = Field(description="When the loop entered that state.")
    lag_seconds: float = Field(
        description="How long the loop had been working without a pause at the last beat (0 "
        "while waiting). A loop that keeps up pauses often; a growing figure means it is "
        "behind or a pass is stuck."
    )
    passes: int = Field(description="Pauses between passes since the process started.")
    crashes: int = Field(description="Times the loop crashed and was restarted.")
    last_pause_at: datetime | None
    last_crash_at: datetime | None


class ProcessOut(BaseModel):
    id: UUID = Field(description="Drawn by the process when it started.")
    kind: Literal["api", "worker", "api+worker"] = Field(
        description="`omnistream serve`, `omnistream worker`, or `serve --with-worker`."
    )
    host: str
    pid: int
    version: str
    started_at: datetime
    last_beat_at: datetime
    beat_seconds: float = Field(description="How often this process beats.")
    alive: bool = Field(
        description="False (gone) when its last beat is older than three of its beats: killed, "
        "or its host lost. A process that stops cleanly removes its row; gone ones are kept "
        "a day."
    )
    loops: list[LoopOut] = Field(description="Its worker loops by name (none for `api`).")


class BacklogOut(BaseModel):
    name: Literal[
        "inbound", "outbound", "scheduled", "webhook_deliveries", "campaign_recipients"
    ] = Field(description="The queue, drained by the worker loop of the same purpose.")
    count: int = Field(description="Items waiting, counted up to `cap` (the cap means at least).")
    cap: int
    oldest_age_seconds: float = Field(description="How long the oldest has waited (0: none).")


class SystemOut(BaseModel):
    checked_at: datetime = Field(description="The database's clock when this was read.")
    processes: list[ProcessOut] = Field(description="Live processes first.")
    backlogs: list[BacklogOut]
