"""A realistic demo directory from a fixed seed: areas, elders, contacts, providers, users.

Everything is synthetic: ID numbers have valid GB 11643 check digits but are drawn at
random; phone numbers come from ranges padded with zeros (139-00xx-xxxx elders,
138-00xx-xxxx kin, 137-00xx-xxxx doctors, 136-00xx-xxxx social workers, 135-00xx-xxxx
staff, 022-55xx-xxxx fixed lines) so that no one mistakes them for real ones. The rows
go through the importer's batch path (:class:`DirectoryWriter`); running it again with
the same seed updates the same records.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import click
from sqlalchemy import select

from callcenter import audit
from callcenter import demo_tables as t
from callcenter.clitools import settings_or_exit
from callcenter.crypto import FieldCipher
from callcenter.directory.users import check_new_user
from callcenter.directory.validators import id_check_char
from callcenter.directory.writer import DirectoryWriter, Progress, lookup, sealed_id_columns
from callcenter.passwords import Passwords
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Area, Contact, Elder, ProviderStaff, User, utcnow

DEFAULT_ELDERS = 3000
DEFAULT_SEED = 12349


@dataclass(frozen=True)
class DemoLogin:
    """A console login the demo creates, with its clear-text demo password."""

    username: str
    password: str
    role: str
    area_code: str | None
    endpoint: str | None
    display_name: str


# One per role, plus agents at each jurisdiction level (C §4.2.2). Passwords meet
# check_password_strength and are printed by the CLI: demo only. Endpoints are the
# softphones' PJSIP endpoint names (rung through CALLCENTER_AGENT_DIAL_TEMPLATE).
_LOGINS: tuple[tuple[str, str, str, int | None, str | None, str], ...] = (
    ("admin", "Haihe-River-2024!", "admin", None, None, "系统管理员"),
    ("supervisor", "Drum-Tower-2024!", "supervisor", None, "1101", "值班班长"),
    ("auditor", "Ancient-Culture-St-2024!", "auditor", None, None, "录音审计员"),
    ("agent1", "Water-Park-2024!", "agent", None, "1001", "坐席一"),
    ("agent2", "Tianta-Tower-2024!", "agent", 0, "1002", "坐席二（区）"),
    ("agent3", "Five-Avenues-2024!", "agent", 2, "1003", "坐席三（社区）"),
)


@dataclass
class DemoSummary:
    """What :func:`generate` wrote, and the logins to print."""

    seed: int
    areas: int = 0
    elders: int = 0
    phones: int = 0
    devices: int = 0
    contacts: int = 0
    providers: int = 0
    staff: int = 0
    logins: list[DemoLogin] = field(default_factory=list)
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        """The row counts, for the audit entry and the CLI."""
        return {
            "areas": self.areas, "elders": self.elders, "phones": self.phones,
            "sos_devices": self.devices, "contacts": self.contacts,
            "providers": self.providers, "staff": self.staff, "users": len(self.logins),
        }


@dataclass
class _Community:
    code: str
    name: str
    stem: str
    district: int
    street_name: str


class DemoDirectory:
    """Draws the demo rows from one seeded random generator."""

    def __init__(self, seed: int, districts: int, streets: int, communities: int) -> None:
        self.rng = random.Random(seed)
        self.areas: list[dict[str, Any]] = []
        self.communities: list[_Community] = []
        self._used_ids: set[str] = set()
        self._kin_phone = 0
        for d_index, (d_code, d_name, street_names) in enumerate(t.DISTRICTS[:districts]):
            self._area(d_code, d_name, "district", None, f"/{d_code}/")
            for s_index, s_name in enumerate(street_names[:streets], start=1):
                s_code = f"{d_code}{s_index:03d}"
                s_path = f"/{d_code}/{s_code}/"
                self._area(s_code, s_name, "street", d_code, s_path)
                stems = self.rng.sample(t.COMMUNITY_STEMS, communities)
                for c_index, stem in enumerate(stems, start=1):
                    c_code = f"{s_code}{c_index:03d}"
                    self._area(c_code, f"{stem}社区", "community", s_code, f"{s_path}{c_code}/")
                    self.communities.append(_Community(c_code, f"{stem}社区", stem, d_index, s_name))

    def _area(self, code: str, name: str, level: str, parent: str | None, path: str) -> None:
        self.areas.append({"code": code, "name": name, "level": level, "parent": parent, "path": path})

    def person_name(self, gender: str | None = None, surname: str | None = None) -> str:
        """A plausible Chinese name; elders' given names by gender, others modern."""
        family = surname or self.rng.choice(t.SURNAMES)
        given = t.ELDER_GIVEN[gender] if gender else t.YOUNGER_GIVEN
        return family + self.rng.choice(given)

    def id_number(self, region: str, born: date, gender: str) -> str:
        """A fresh ID number with a valid check digit (odd sequence digit: male)."""
        while True:
            seq = self.rng.randrange(0, 1000)
            if (seq % 2 == 1) != (gender == "M"):
                seq = (seq + 1) % 1000
            first17 = f"{region}{born:%Y%m%d}{seq:03d}"
            number = first17 + id_check_char(first17)
            if number not in self._used_ids:
                self._used_ids.add(number)
                return number

    def providers(self, count: int) -> list[dict[str, Any]]:
        """Providers, each covering one district or one street."""
        rows = []
        district_codes = [a["code"] for a in self.areas if a["level"] == "district"]
        streets = [a for a in self.areas if a["level"] == "street"]
        for n in range(count):
            covers = (
                [district_codes[n % len(district_codes)]]
                if n % 3 == 0 else [streets[n % len(streets)]["code"]]
            )
            area_name = next(a["name"] for a in self.areas if a["code"] == covers[0])
            types = sorted(self.rng.sample(t.SERVICE_TYPES, self.rng.randint(2, 5)))
            rows.append({
                "code": f"P{n + 1:03d}",
                "name": area_name + t.PROVIDER_NAMES[n % len(t.PROVIDER_NAMES)],
                "service_types": types,
                "capacity": self.rng.choice((50, 100, 200, 400)),
                "rating": round(self.rng.uniform(3.2, 4.9), 1),
                "phone": f"02257{n:06d}",
                "active": True,
                "_areas": covers,
            })
        return rows

    def elder(self, n: int, community: _Community, region: str) -> dict[str, Any]:
        """One elder's row (without ids resolved), with phones, devices and contacts."""
        rng = self.rng
        gender = rng.choice("MF")
        born = date(1930, 1, 1) + timedelta(days=rng.randrange(0, 35 * 365))
        lives_alone = rng.random() < 0.3
        notes = "；".join(rng.sample(t.HEALTH_NOTES, rng.choice((0, 1, 1, 2, 3))))
        name = self.person_name(gender)
        phones = [f"13900{n:06d}"] + ([f"02255{n:06d}"] if rng.random() < 0.4 else [])
        devices = [f"TJ-SOS-{n:07d}"] + ([f"TJ-FALL-{n:07d}"] if lives_alone else [])
        kin = []
        for priority in range(1, rng.randint(1, 3) + 1):
            relation = rng.choice(t.KIN_RELATIONS)
            surname = name[0] if relation in t.SAME_SURNAME else None
            self._kin_phone += 1
            kin.append({"role": "kin", "name": self.person_name(surname=surname),
                        "relation": relation, "phone": f"13800{self._kin_phone:06d}",
                        "email": None, "priority": priority})
        return {
            "code": f"E{n:07d}",
            "name": name,
            "gender": gender,
            "birth_date": born,
            "id_number": self.id_number(region, born, gender),
            "address": f"{community.stem}{rng.randint(1, 30)}号楼{rng.randint(1, 6)}门"
                       f"{rng.randint(1, 7)}0{rng.randint(1, 4)}室",
            "lives_alone": lives_alone,
            "disabled": rng.random() < 0.12,
            "health_notes": notes,
            "status": "active" if rng.random() < 0.97 else "suspended",
            "_phones": phones,
            "_devices": devices,
            "_kin": kin,
        }


def _community_contacts(demo: DemoDirectory) -> dict[str, list[dict[str, Any]]]:
    """Each community's doctor, its health centre as doctor #2, and its social worker."""
    contacts: dict[str, list[dict[str, Any]]] = {}
    for n, community in enumerate(demo.communities):
        contacts[community.code] = [
            {"role": "doctor", "name": demo.person_name() + "医生", "relation": "社区医生",
             "phone": f"13700{n:06d}", "email": None, "priority": 1},
            {"role": "doctor", "name": f"{community.street_name}社区卫生服务中心",
             "relation": "卫生服务中心", "phone": f"02256{n:06d}", "email": None, "priority": 2},
            {"role": "social_worker", "name": demo.person_name(), "relation": "社工",
             "phone": f"13600{n:06d}", "email": f"sw{n:03d}@demo.invalid", "priority": 1},
        ]
    return contacts


async def _write_users(session: Any, passwords: Passwords, demo: DemoDirectory) -> list[DemoLogin]:
    logins = []
    for username, password, role, community, endpoint, display in _LOGINS:
        area = None if community is None else (
            demo.areas[0]["code"] if community == 0 else demo.communities[0].code
        )
        check_new_user(username, password, role, endpoint)
        logins.append(DemoLogin(username, password, role, area, endpoint, display))
    codes = {login.area_code for login in logins if login.area_code}
    area_ids = dict(await lookup(await session.connection(), Area.code, codes, Area.code, Area.id))
    hashes = await asyncio.gather(*(passwords.hash(login.password) for login in logins))
    for login, digest in zip(logins, hashes, strict=True):
        user = await session.scalar(select(User).where(User.username == login.username))
        if user is None:
            user = User(username=login.username)
            session.add(user)
        user.password_hash = digest
        user.role = login.role
        user.area_id = area_ids.get(login.area_code) if login.area_code else None
        user.endpoint = login.endpoint
        user.display_name = login.display_name
        user.active = True
        user.failed_logins = 0
        user.locked_until = None
    await session.flush()
    return logins


async def generate(
    runtime_or_sessions: Any,
    cipher: FieldCipher,
    passwords: Passwords,
    *,
    elders: int = DEFAULT_ELDERS,
    seed: int = DEFAULT_SEED,
    districts: int = 3,
    streets: int = 4,
    communities: int = 5,
    providers: int = 12,
    actor: str = "demo-data",
    progress: Progress | None = None,
) -> DemoSummary:
    """Write a demo directory of ``elders`` elders in one transaction; same seed, same data."""
    started = time.perf_counter()
    sessions: SessionFactory = getattr(runtime_or_sessions, "sessions", runtime_or_sessions)
    demo = DemoDirectory(seed, districts, streets, communities)
    summary = DemoSummary(seed=seed, areas=len(demo.areas))
    community_contacts = _community_contacts(demo)
    provider_rows = demo.providers(providers)
    now = utcnow()
    async with sessions.begin() as session:
        conn = await session.connection()
        writer = DirectoryWriter(conn, progress)
        area_ids: dict[str, int] = {}
        for level in ("district", "street", "community"):
            area_ids.update(await writer.upsert_areas([
                {"code": a["code"], "name": a["name"], "level": level,
                 "parent_id": area_ids[a["parent"]] if a["parent"] else None, "path": a["path"]}
                for a in demo.areas if a["level"] == level
            ]))
        provider_ids = await writer.upsert_providers(
            [{k: v for k, v in row.items() if not k.startswith("_")} for row in provider_rows],
            ["name", "service_types", "capacity", "rating", "phone", "active"],
        )
        await writer.replace_provider_areas(list(provider_ids.values()), [
            {"provider_id": provider_ids[row["code"]], "area_id": area_ids[code]}
            for row in provider_rows for code in row["_areas"]
        ])
        staff = [
            {"provider_id": provider_ids[row["code"]], "name": demo.person_name(),
             "phone": f"13500{n * 20 + k:06d}",
             "skills": sorted(demo.rng.sample(row["service_types"], min(len(row["service_types"]), 2))),
             "active": True}
            for n, row in enumerate(provider_rows) for k in range(demo.rng.randint(3, 8))
        ]
        await writer.delete_children(ProviderStaff.__table__.c.provider_id, list(provider_ids.values()))
        await writer.insert_staff(staff)
        # Providers by the area codes they cover, to designate one for most elders.
        covering: dict[str, list[int]] = {}
        for row in provider_rows:
            for code in row["_areas"]:
                covering.setdefault(code, []).append(provider_ids[row["code"]])
        rows = []
        for n in range(1, elders + 1):
            community = demo.communities[(n - 1) % len(demo.communities)]
            row = demo.elder(n, community, community.code[:6])
            candidates = covering.get(community.code[:6], []) + covering.get(community.code[:9], [])
            row["provider_id"] = (
                demo.rng.choice(candidates) if candidates and demo.rng.random() < 0.6 else None
            )
            row["area_id"] = area_ids[community.code]
            row["_community"] = community.code
            rows.append(row)
        existing = [id_ for _, id_ in await lookup(conn, Elder.code, (r["code"] for r in rows),
                                                   Elder.code, Elder.id)]
        values = [
            {**{k: v for k, v in row.items() if not k.startswith("_") and k != "id_number"},
             **sealed_id_columns(cipher, row["id_number"]), "created_at": now, "updated_at": now}
            for row in rows
        ]
        update = [k for k in values[0] if k not in ("code", "created_at")] if values else []
        elder_ids = await writer.upsert_elders(values, update)
        phones = [{"elder_id": elder_ids[r["code"]], "number": p} for r in rows for p in r["_phones"]]
        devices = [{"elder_id": elder_ids[r["code"]], "device_id": d, "active": True}
                   for r in rows for d in r["_devices"]]
        contacts = [
            {"elder_id": elder_ids[r["code"]], **c}
            for r in rows for c in (*r["_kin"], *community_contacts[r["_community"]])
        ]
        await writer.replace_phones(existing, phones)
        await writer.replace_devices(existing, devices)
        await writer.delete_children(Contact.__table__.c.elder_id, existing)
        await writer.upsert_contacts(contacts)
        summary.logins = await _write_users(session, passwords, demo)
        summary.elders, summary.phones, summary.devices = len(rows), len(phones), len(devices)
        summary.contacts, summary.providers, summary.staff = len(contacts), len(provider_rows), len(staff)
        await audit.record(
            session, actor=actor, action="demo.generate", entity="directory",
            entity_id=f"seed-{seed}", after=summary.counts(), reason="demo data",
        )
    summary.seconds = time.perf_counter() - started
    return summary


@click.group("demo-data")
def demo_data() -> None:
    """Synthetic directories for demos, benchmarks and tests."""


@demo_data.command("generate")
@click.option("--elders", default=DEFAULT_ELDERS, show_default=True, type=click.IntRange(1, 999_999))
@click.option("--seed", default=DEFAULT_SEED, show_default=True, type=int)
def generate_command(elders: int, seed: int) -> None:
    """Write a demo directory into the configured store (migrating it first) and print the logins."""
    from callcenter.store import migrate
    from callcenter.store.cli import open_store

    settings = settings_or_exit()
    migrate.upgrade(settings.database_url)

    async def run() -> DemoSummary:
        async with open_store(settings) as sessions:
            cipher = FieldCipher(settings.secret_key_bytes())
            return await generate(sessions, cipher, Passwords(), elders=elders, seed=seed)

    summary = asyncio.run(run())
    counts = ", ".join(f"{count} {name}" for name, count in summary.counts().items())
    click.echo(f"demo directory written in {summary.seconds:.1f} s: {counts}")
    click.echo("demo logins (demo passwords, never use them in production):")
    for login in summary.logins:
        scope = f" area {login.area_code}" if login.area_code else ""
        click.echo(f"  {login.username:<11} {login.password:<26} {login.role}{scope}")
    sys.stdout.flush()


def demo_credentials() -> list[tuple[str, str, str]]:
    """(username, demo password, role) of every demo login, for printing at demo start."""
    return [(username, password, role) for username, password, role, *_ in _LOGINS]
