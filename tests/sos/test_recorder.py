"""The incident recorder writes whatever the conference hands it, on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ari_apps.sos.models import IncidentEvent
from ari_apps.sos.store import IncidentRecorder, register_journal_kinds
from callcenter.journal import Journal
from callcenter.store.engine import SessionFactory
from callcenter.store.models import utcnow

INCIDENT = "20260101000000abcdef"


def incident_row(incident_id: str = INCIDENT) -> dict[str, Any]:
    """A fresh, unidentified incident's row."""
    return {
        "id": incident_id, "kind": "sos", "status": "active", "elder_id": None,
        "identified": False, "caller_number": "13900001111", "device_id": None,
        "area_path": None, "node": "default", "bridge_id": f"sos-{incident_id}",
        "recording_name": f"sos-{incident_id}", "work_order_number": f"WO-{incident_id}",
        "outcome": None, "started_at": utcnow(), "first_answer_at": None, "ended_at": None,
    }


async def test_a_timeline_detail_with_nan_or_infinity_is_stored_as_json(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    journal = Journal(tmp_path / "journal", sessions)
    register_journal_kinds(journal)
    recorder = IncidentRecorder(sessions, journal)
    recorder.start()
    try:
        recorder.incident(incident_row())
        detail = {"alarm": {"value": math.nan, "peak": math.inf, "low": -math.inf, "ok": 1.5}}
        recorder.event(INCIDENT, "alarm", detail, key=f"{INCIDENT}:1", at=utcnow())
        await recorder.flush()
    finally:
        await recorder.close()
    async with sessions() as session:
        stored = (await session.execute(select(IncidentEvent.detail))).scalars().all()
    assert stored == [{"alarm": {"value": None, "peak": None, "low": None, "ok": 1.5}}]
    assert journal.backlog() == 0
