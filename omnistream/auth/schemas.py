"""Authentication API shapes."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from omnistream.auth.passwords import MAX_LENGTH, MIN_LENGTH

Password = Field(min_length=MIN_LENGTH, max_length=MAX_LENGTH)


class LoginIn(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=MAX_LENGTH)


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=10, max_length=200)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")


class PasswordChangeIn(BaseModel):
    current_password: str = Field(min_length=1, max_length=MAX_LENGTH)
    new_password: str = Password
