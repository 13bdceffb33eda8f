"""Elder search and profile through the console: jurisdiction, search kinds, reveal, nav, i18n."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from callcenter.runtime import Runtime
from callcenter.store.models import AuditEntry
from tests.webui.conftest import Login, World, csrf_of


async def _search(http: object, q: str) -> list[str]:
    async with http.get("/api/elders", params={"q": q}) as response:  # type: ignore[attr-defined]
        assert response.status == 200, await response.text()
        return [item["name"] for item in (await response.json())["items"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("张", ["张国强", "张秀英"]),  # name prefix
        ("张秀", ["张秀英"]),
        ("13800138001", ["张秀英"]),  # full phone number
        ("138-0013-8001", ["张秀英"]),  # with separators
        ("8002", ["张国强"]),  # trailing digits: phone (no ID ends in 8002)
        ("23456789", ["张秀英"]),  # trailing digits of a fixed line
        ("5678", ["张国强"]),  # ID-number tail
        ("王", ["王建华"]),
        ("李", []),
    ],
)
async def test_search_by_name_phone_and_id_tail(
    login: Login, query: str, expected: list[str]
) -> None:
    http = await login("agent_street")
    assert sorted(await _search(http, query)) == sorted(expected)


async def test_search_never_returns_out_of_area_elders(login: Login) -> None:
    street = await login("agent_street")  # S1: communities C1 and C2
    community = await login("agent_c1")  # C1 only
    far = await login("agent_d2")  # the other district
    everyone = await login("auditor")  # no area: the whole service
    assert sorted(await _search(street, "张")) == ["张国强", "张秀英"]
    assert await _search(community, "张") == ["张秀英"]
    assert await _search(far, "张") == ["张桂兰"]
    assert sorted(await _search(everyone, "张")) == ["张国强", "张桂兰", "张秀英"]
    # "1234" ends two ID numbers, one in each district: each agent sees only their own.
    assert await _search(community, "1234") == ["张秀英"]
    assert await _search(far, "1234") == ["张桂兰"]
    async with community.get("/elders", params={"q": "张"}) as page:
        html = await page.text()
    assert "张秀英" in html and "张国强" not in html and "张桂兰" not in html


async def test_out_of_area_elder_is_404_on_page_and_api(login: Login, world: World) -> None:
    http = await login("agent_c1")
    for url in (f"/elders/{world.elder_c3}", f"/api/elders/{world.elder_c3}",
                f"/elders/{world.elder_c2}", f"/api/elders/{world.elder_c2}"):
        async with http.get(url) as response:
            assert response.status == 404, url
            body = await response.text()
        assert "张桂兰" not in body and "张国强" not in body
    # Indistinguishable from an id that does not exist.
    async with http.get("/api/elders/999999") as missing, \
            http.get(f"/api/elders/{world.elder_c3}") as hidden:
        assert (await missing.json())["error_id"] == (await hidden.json())["error_id"]


async def test_in_area_profile_shows_contacts_by_role_and_priority_and_masks_the_id(
    login: Login, world: World
) -> None:
    http = await login("agent_street")
    async with http.get(f"/api/elders/{world.elder_c1}") as response:
        assert response.status == 200
        elder = await response.json()
    assert [(c["role"], c["priority"], c["name"]) for c in elder["contacts"]] == [
        ("doctor", 1, "李医生"),
        ("kin", 1, "张伟"),
        ("kin", 2, "张丽"),
        ("social_worker", 1, "赵社工"),
    ]
    assert elder["id_number_masked"] == "120104***********4"
    assert "120104194005171234" not in str(elder)
    assert [a["name"] for a in elder["areas"]] == ["南开区", "长虹街道", "长江里社区"]
    assert elder["phones"] == ["13800138001", "02223456789"]
    assert elder["devices"] == [{"device_id": "SOS-0001", "active": True}]
    assert elder["provider"]["name"] == "乐康居家养老服务中心"
    assert elder["lives_alone"] is True and elder["health_notes"] == "高血压"
    async with http.get(f"/elders/{world.elder_c1}") as page:
        assert page.status == 200
        html = await page.text()
    assert "张伟" in html and "李医生" in html and "120104***********4" in html
    assert "120104194005171234" not in html


async def test_number_query_shorter_than_four_digits_is_422(login: Login) -> None:
    http = await login("agent_street")
    async with http.get("/api/elders", params={"q": "138"}) as response:
        assert response.status == 422
        assert (await response.json())["error_id"] == "invalid-search"
    async with http.get("/api/elders", params={"q": "张", "limit": "0"}) as response:
        assert response.status == 422
        body = await response.json()
    assert body["details"]["errors"][0]["loc"] == ["limit"]


async def _reveals(runtime: Runtime) -> list[tuple[str, str, str]]:
    async with runtime.sessions() as db:
        rows = await db.execute(
            select(AuditEntry.actor, AuditEntry.entity_id, AuditEntry.reason)
            .where(AuditEntry.action == "elder.id_number.reveal")
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_supervisor_reveal_decrypts_the_id_number_and_is_audited(
    login: Login, world: World, runtime: Runtime
) -> None:
    http = await login("super_d1")
    csrf = await csrf_of(http)
    async with http.post(f"/api/elders/{world.elder_c1}/reveal", json={"reason": "核实来电身份"},
                         headers={"X-CSRF-Token": csrf}) as response:
        assert response.status == 200
        assert (await response.json())["id_number"] == "120104194005171234"
    async with http.post(f"/elders/{world.elder_c2}/reveal",
                         data={"csrf_token": csrf, "reason": "工单核实"}) as page:
        assert page.status == 200
        assert "120104193811025678" in await page.text()
    assert await _reveals(runtime) == [
        ("super_d1", str(world.elder_c1), "核实来电身份"),
        ("super_d1", str(world.elder_c2), "工单核实"),
    ]


async def test_agent_may_not_reveal_and_out_of_area_reveal_is_404(
    login: Login, world: World, runtime: Runtime
) -> None:
    agent = await login("agent_street")
    async with agent.post(f"/api/elders/{world.elder_c1}/reveal", json={"reason": "想看"},
                          headers={"X-CSRF-Token": await csrf_of(agent)}) as response:
        assert response.status == 403
    supervisor = await login("super_d1")  # district D1: C3 is in D2
    async with supervisor.post(f"/api/elders/{world.elder_c3}/reveal", json={"reason": "核实"},
                               headers={"X-CSRF-Token": await csrf_of(supervisor)}) as response:
        assert response.status == 404
    assert await _reveals(runtime) == []


async def test_navigation_follows_the_role_and_hides_unbuilt_features(login: Login) -> None:
    async def links(username: str) -> str:
        http = await login(username)
        async with http.get("/elders") as page:
            html = await page.text()
        return html.split("<nav")[1].split("</nav>")[0]

    agent, auditor, admin = await links("agent_c1"), await links("auditor"), await links("admin")
    supervisor = await links("super_d1")
    assert 'href="/elders"' in agent and 'href="/audit"' not in agent
    assert 'href="/users"' not in agent
    assert 'href="/audit"' in auditor and 'href="/users"' not in auditor
    assert 'href="/audit"' in admin and 'href="/users"' in admin
    # The wallboard and incidents do not exist yet: no link, not even for a supervisor.
    assert "wallboard" not in supervisor and "incidents" not in supervisor


async def test_role_pages_are_refused_to_other_roles(login: Login) -> None:
    agent = await login("agent_c1")
    async with agent.get("/audit") as page:
        assert page.status == 403
    admin = await login("admin")
    async with admin.get("/audit") as audit_page, admin.get("/users") as users_page:
        assert audit_page.status == 200 and users_page.status == 200
        assert "auth.login" in await audit_page.text()
        assert "agent_street" in await users_page.text()


async def test_pages_are_chinese_by_default_and_switch_to_english(login: Login) -> None:
    http = await login("agent_c1")
    async with http.get("/elders") as page:
        html = await page.text()
    assert 'lang="zh-CN"' in html and "查询老人" in html
    async with http.get("/lang/en", params={"next": "/elders"}) as page:
        html = await page.text()
    assert 'lang="en"' in html and "Find an elder" in html and "查询老人" not in html
