"""What crosses the HTTP boundary for follows, reminders, notifications and reviews."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.types import Text


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReviewIn(Strict):
    # Range checked by the action (409/422 with code `rating_out_of_range`, not a generic
    # `invalid`): the page names that reason.
    rating: Any = Field(description="1 to 5")
    body: Text = Field(default="", max_length=2000)


class ReviewPatch(Strict):
    rating: Any = Field(default=None, description="1 to 5")
    body: Text | None = Field(default=None, max_length=2000)


class ReplyIn(Strict):
    reply: Text = Field(min_length=1, max_length=1000)
