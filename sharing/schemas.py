"""What crosses HTTP for share links (web/api_shares.py)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ShareIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: str = Field(description="room, product or group")
    id: int = Field(ge=1, le=2**63 - 1)


class ShareLinkOut(BaseModel):
    id: int
    code: str
    kind: str
    target_id: int
    path: str
    url: str


class VisitOut(BaseModel):
    path: str
    counted: bool
    attributed: bool


class SharerOverviewOut(BaseModel):
    links: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    entries: list[dict[str, Any]]
    totals: dict[str, dict[str, int]]
    rules: dict[str, int]
