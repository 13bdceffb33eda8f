"""What the screen-pop API takes and gives (in the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Action = Literal["work_order", "complaint", "consult_answered", "register_caller"]


class PopList(BaseModel):
    """My pops showing now (oldest first): who is calling, why, the one-click actions."""

    pops: list[dict[str, Any]]


class IntentRequest(BaseModel):
    """A one-click action on a call, recorded on the call for the page that will do it."""

    model_config = ConfigDict(extra="forbid")

    action: Action
    note: str = Field(default="", max_length=500)


class Intent(BaseModel):
    action: str
    by: str
    at: datetime
    note: str = ""


class IntentResult(BaseModel):
    """The call's recorded intents, and where the agent may go next (a page that exists)."""

    call_id: str
    intents: list[Intent]
    next_url: str | None = None


class Dismissed(BaseModel):
    call_id: str
    dismissed: bool
