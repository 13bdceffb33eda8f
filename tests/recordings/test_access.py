"""Who hears what (agents their own calls, supervisors their area's, auditors their scope),
the audited, short-lived links, HTTP Range for seeking, and hostile input."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from callcenter.passwords import Passwords
from callcenter.runtime import Runtime
from callcenter.store.models import Area, AuditEntry, Role
from recordings.models import Recording
from recordings.services import Recordings
from tests.factories import make_user
from tests.recordings.support import Recorded
from tests.webui.conftest import ClientAddress, FakeClock, Login, csrf_of


async def _serials(http: aiohttp.ClientSession, **query: str) -> list[str]:
    async with http.get("/api/recordings", params=query) as response:
        assert response.status == 200, await response.text()
        return [r["serial"] for r in (await response.json())["recordings"]]


async def _grant(http: aiohttp.ClientSession, serial: str, reason: str = "核实投诉内容",
                 purpose: str = "play") -> tuple[int, Any]:
    async with http.post(f"/api/recordings/{serial}/access",
                         json={"reason": reason, "purpose": purpose},
                         headers={"X-CSRF-Token": await csrf_of(http)}) as response:
        return response.status, await response.json()


async def test_each_role_finds_only_what_its_scope_allows(
    login: Login, recorded: Recorded, runtime: Runtime, passwords: Passwords,
) -> None:
    async with runtime.sessions.begin() as session:
        d2 = (await session.execute(select(Area).where(Area.code == "D2"))).scalar_one()
        await make_user(session, passwords, "auditor_d2", Role.AUDITOR, area=d2)
    expected = {"agent_c1": [recorded.c1], "agent_d2": [recorded.d2],
                "agent_street": [],  # same area as C1's call, but not their call
                "super_d1": [recorded.c1], "auditor": sorted([recorded.c1, recorded.d2]),
                "auditor_d2": [recorded.d2]}
    for user, serials in expected.items():
        http = await login(user)
        assert sorted(await _serials(http)) == serials, user
        hidden = {recorded.c1, recorded.d2} - set(serials)
        for serial in hidden:  # out of scope answers as if it did not exist
            async with http.get(f"/api/recordings/{serial}") as response:
                assert response.status == 404
                assert (await response.json())["error_id"] == "recording-not-found"
            status, _ = await _grant(http, serial)
            assert status == 404
    admin = await login("admin")
    async with admin.get("/api/recordings") as response:
        assert response.status == 403


async def test_search_filters_and_the_masked_number(login: Login, recorded: Recorded) -> None:
    http = await login("auditor")
    assert await _serials(http, phone="8001") == [recorded.c1]
    assert await _serials(http, phone="13900139003") == [recorded.d2]
    assert await _serials(http, elder="张桂") == [recorded.d2]
    assert await _serials(http, serial=recorded.c1) == [recorded.c1]
    assert await _serials(http, agent="agent_d2") == [recorded.d2]
    assert await _serials(http, date_from="2025-03-01", date_to="2025-03-01") != []
    assert await _serials(http, date_from="2025-03-02") == []
    async with http.get("/api/recordings", params={"serial": recorded.c1}) as response:
        (item,) = (await response.json())["recordings"]
    assert item["caller"] == "138****8001" and "13800138001" not in str(item)
    assert item["kept_through"] == "2025-06-01" and item["duration_ms"] == 4000
    async with http.get(f"/api/recordings/{recorded.c1}") as response:
        detail = await response.json()
    assert detail["segments"] == [[500, 1500], [2000, 3200]] and len(detail["peaks"]) > 10
    for bad in ({"phone": "12"}, {"phone": "1380013800x"}, {"serial": "../../etc"},
                {"limit": "100000"}, {"date_from": "2025-02-30"}, {"nosuch": "1"}):
        async with http.get("/api/recordings", params=bad) as response:
            assert response.status == 422, bad


async def test_play_needs_a_reason_and_every_play_and_download_is_audited(
    login: Login, recorded: Recorded, runtime: Runtime, client_address: ClientAddress,
) -> None:
    http = await login("super_d1")
    status, body = await _grant(http, recorded.c1, reason="   ")
    assert status == 422 and body["error_id"] == "reason-required"
    client_address.value = "10.1.2.3"
    status, link = await _grant(http, recorded.c1, reason="核实投诉内容")
    assert status == 200 and link["url"].startswith(f"/api/recordings/{recorded.c1}/audio?")
    async with http.get(link["url"]) as response:
        assert response.status == 200 and response.headers["Accept-Ranges"] == "bytes"
        assert response.headers["Content-Type"] == "audio/wav"
        assert await response.read() == recorded.audio_c1
    status, download = await _grant(http, recorded.c1, reason="法院调取", purpose="download")
    async with http.get(download["url"]) as response:
        assert response.headers["Content-Disposition"] == (
            f'attachment; filename="{recorded.c1}.wav"')
        assert await response.read() == recorded.audio_c1
    async with runtime.sessions() as session:
        entries = (await session.execute(select(AuditEntry).where(
            AuditEntry.entity == "recording").order_by(AuditEntry.seq))).scalars().all()
    assert [(e.actor, e.action, e.entity_id, e.reason) for e in entries] == [
        ("super_d1", "recording.play", recorded.c1, "核实投诉内容"),
        ("super_d1", "recording.download", recorded.c1, "法院调取"),
    ]
    assert entries[0].after is not None and entries[0].after["from"] == "10.1.2.3"
    assert entries[0].after["call_id"] == "call-c1" and entries[0].at is not None


async def test_seeking_with_http_range(login: Login, recorded: Recorded) -> None:
    http = await login("auditor")
    _, link = await _grant(http, recorded.d2)
    size = len(recorded.audio_d2)
    for header, start, end in (("bytes=100-199", 100, 199), ("bytes=30000-", 30000, size - 1),
                               ("bytes=-44", size - 44, size - 1),
                               (f"bytes=10-{size * 5}", 10, size - 1)):
        async with http.get(link["url"], headers={"Range": header}) as response:
            assert response.status == 206, header
            assert response.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
            assert await response.read() == recorded.audio_d2[start:end + 1]


@pytest.mark.parametrize("header", [
    "bytes=0-1,5-9", "bytes=abc", "bytes=-0", "items=0-1", "bytes=5-2", "bytes=",
    "bytes=" + "9" * 30 + "-", "bytes=99999999-", "bytes=-", " bytes = 1 - 2 ",
])
async def test_hostile_range_headers_are_refused_clearly(
    login: Login, recorded: Recorded, header: str,
) -> None:
    http = await login("auditor")
    _, link = await _grant(http, recorded.d2)
    async with http.get(link["url"], headers={"Range": header}) as response:
        assert response.status == 416
        assert response.headers["Content-Range"] == f"bytes */{len(recorded.audio_d2)}"
        assert (await response.json())["error_id"] == "range-not-satisfiable"


async def test_links_are_short_lived_and_for_their_user_only(
    login: Login, recorded: Recorded, clock: FakeClock, connect: Any,
) -> None:
    auditor = await login("auditor")
    _, link = await _grant(auditor, recorded.c1)
    supervisor = await login("super_d1")  # may hear this call, but not through my link
    async with supervisor.get(link["url"]) as response:
        assert response.status == 403
        assert (await response.json())["error_id"] == "recording-link-invalid"
    stranger = await connect()
    async with stranger.get(link["url"]) as response:
        assert response.status == 401
    forged = link["url"].replace("purpose=play", "purpose=download")
    async with auditor.get(forged) as response:
        assert response.status == 403
    clock.advance(301)
    async with auditor.get(link["url"]) as response:
        assert response.status == 403
        assert "expired" in str(await response.json()) or response.status == 403


async def test_odd_paths_unknown_recordings_and_missing_or_cut_files(
    login: Login, recorded: Recorded, recordings: Recordings,
) -> None:
    http = await login("auditor")
    for path in ("/api/recordings/../../etc/passwd", "/api/recordings/%2e%2e%2fsecret/audio",
                 "/api/recordings/R20250301-ZZZZZZZZZZ", "/api/recordings/R20250301-0000000000",
                 "/api/recordings/R20250301-0000000000/audio?purpose=play&expires=1&sig=x"):
        async with http.get(path) as response:
            assert response.status in (403, 404), path
            assert b"RIFF" not in await response.read()
    _, link = await _grant(http, recorded.d2)
    async with recordings.sessions() as session:
        row = (await session.execute(select(Recording).where(
            Recording.serial == recorded.d2))).scalar_one()
    path = recordings.store.path_of(str(row.sha256))
    path.write_bytes(recorded.audio_d2[:1000])  # cut short at rest
    async with http.get(link["url"]) as response:
        assert response.status == 410
        assert (await response.json())["error_id"] == "recording-audio-gone"
    path.unlink()  # gone altogether
    async with http.get(link["url"]) as response:
        assert response.status == 410


async def test_auditors_place_and_release_legal_holds(login: Login, recorded: Recorded) -> None:
    auditor = await login("auditor")
    csrf = await csrf_of(auditor)
    hold = {"reason": "法院调取证据", "case_ref": "L-2025-7", "expires_at": "2026-01-01T00:00:00Z"}
    async with auditor.post(f"/api/recordings/{recorded.c1}/holds", json=hold,
                            headers={"X-CSRF-Token": csrf}) as response:
        assert response.status == 200, await response.text()
        placed = (await response.json())["hold"]
    assert placed["kind"] == "legal" and placed["case_ref"] == "L-2025-7"
    async with auditor.get("/api/recordings", params={"case": "L-2025-7"}) as response:
        assert [r["serial"] for r in (await response.json())["recordings"]] == [recorded.c1]
    past = hold | {"expires_at": "2020-01-01T00:00:00Z"}
    async with auditor.post(f"/api/recordings/{recorded.c1}/holds", json=past,
                            headers={"X-CSRF-Token": csrf}) as response:
        assert response.status == 422
    agent = await login("agent_c1")
    async with agent.post(f"/api/recordings/{recorded.c1}/holds", json=hold,
                          headers={"X-CSRF-Token": await csrf_of(agent)}) as response:
        assert response.status == 403
    async with auditor.post(f"/api/recordings/holds/{placed['id']}/release",
                            json={"reason": "案件已结"}, headers={"X-CSRF-Token": csrf}) as response:
        assert response.status == 200
    async with auditor.post(f"/api/recordings/holds/{placed['id']}/release",
                            json={"reason": "案件已结"}, headers={"X-CSRF-Token": csrf}) as response:
        assert response.status == 404


async def test_the_api_is_in_the_openapi_document(login: Login, recorded: Recorded) -> None:
    http = await login("auditor")
    async with http.get("/api/openapi.json") as response:
        paths = (await response.json())["paths"]
    assert "/api/recordings" in paths and "get" in paths["/api/recordings"]
    assert "/api/recordings/{serial}/audio" in paths
    assert "/api/recordings/{serial}/access" in paths
