"""Check imported rows against the store and turn them into a write plan.

A plan is only built while the import's transaction is open, so what the checks saw
(existing codes, ID numbers, devices) is what the writes meet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from callcenter.crypto import FieldCipher
from callcenter.directory.results import ImportReport, ParsedRows
from callcenter.directory.writer import DirectoryWriter, Progress, lookup, sealed_id_columns
from callcenter.store.models import (
    Area,
    AreaLevel,
    Contact,
    Elder,
    ElderStatus,
    Provider,
    SosDevice,
    utcnow,
)

_PARENT_LEVEL = {AreaLevel.STREET: AreaLevel.DISTRICT, AreaLevel.COMMUNITY: AreaLevel.STREET}
# Which store columns each optional CSV column feeds, for "update what the file has".
_ELDER_COLUMNS = {
    "name": ["name"],
    "gender": ["gender"],
    "birth_date": ["birth_date"],
    "id_number": ["id_number_sealed", "id_number_index", "id_number_tail"],
    "address": ["address"],
    "area_code": ["area_id"],
    "lives_alone": ["lives_alone"],
    "disabled": ["disabled"],
    "health_notes": ["health_notes"],
    "language": ["language"],
    "hearing": ["hearing"],
    "provider_code": ["provider_id"],
    "status": ["status"],
}
_PROVIDER_COLUMNS = {name: [name] for name in ("name", "service_types", "capacity", "rating", "phone")}


@dataclass
class WritePlan:
    """The writes of one import, and how many rows they touch (for the progress bar)."""

    rows_to_write: int
    run: Callable[[DirectoryWriter], Awaitable[None]]
    conn: AsyncConnection

    async def write(self, advance: Progress) -> None:
        """Carry the plan out inside the open transaction."""
        await self.run(DirectoryWriter(self.conn, advance))


def _update_columns(present: set[str], mapping: dict[str, list[str]]) -> list[str]:
    return [column for name, columns in mapping.items() if name in present for column in columns]


class StoreChecks:
    """Checks that need the store, per import kind; each returns a :class:`WritePlan`."""

    def __init__(
        self,
        conn: AsyncConnection,
        cipher: FieldCipher,
        parsed: ParsedRows,
        columns: set[str],
        report: ImportReport,
    ) -> None:
        self._conn = conn
        self._cipher = cipher
        self._parsed = parsed
        self._columns = columns
        self._report = report

    async def plan(self, kind: str) -> WritePlan:
        """Check the rows of an import of ``kind`` and plan its writes."""
        planner = {
            "areas": self._areas,
            "providers": self._providers,
            "elders": self._elders,
            "contacts": self._contacts,
        }[kind]
        return await planner()

    def _error(self, line: int, column: str, message: str) -> None:
        self._parsed.error(line, column, message)

    async def _areas(self) -> WritePlan:
        rows = self._parsed.rows
        in_file = {row.code: row for _, row in rows}
        wanted = set(in_file) | {row.parent_code for _, row in rows if row.parent_code}
        stored = {
            code: (id_, AreaLevel(level), path, parent_id)
            for code, id_, level, path, parent_id in await lookup(
                self._conn, Area.code, wanted, Area.code, Area.id, Area.level, Area.path, Area.parent_id
            )
        }
        stored_ids = {id_: code for code, (id_, *_rest) in stored.items()}
        paths = {code: entry[2] for code, entry in stored.items()}
        ordered = sorted(rows, key=lambda item: list(AreaLevel).index(item[1].level))
        for line, row in ordered:
            parent_level = _PARENT_LEVEL.get(row.level)
            if row.parent_code is not None and parent_level is not None:
                parent = in_file.get(row.parent_code)
                level = parent.level if parent else stored.get(row.parent_code, (0, None))[1]
                if level is None:
                    self._error(line, "parent_code", f"{row.parent_code}: no such area in the store or this file")
                    continue
                if level != parent_level:
                    self._error(
                        line, "parent_code",
                        f"{row.parent_code} is a {level.value}; a {row.level.value}'s parent must be a {parent_level.value}",
                    )
                    continue
            existing = stored.get(row.code)
            if existing is not None:
                _, level, _, parent_id = existing
                if level != row.level or stored_ids.get(parent_id) != row.parent_code:
                    self._error(
                        line, "code",
                        f"{row.code} exists as a {level.value} under {stored_ids.get(parent_id) or 'no parent'}; "
                        "an import may rename an area but not move it",
                    )
                    continue
            if row.parent_code is None:
                paths[row.code] = f"/{row.code}/"
            elif row.parent_code in paths:
                paths[row.code] = f"{paths[row.parent_code]}{row.code}/"
        self._report.inserted = sum(1 for _, row in rows if row.code not in stored)
        self._report.updated = len(rows) - self._report.inserted

        async def run(writer: DirectoryWriter) -> None:
            ids = {code: entry[0] for code, entry in stored.items()}
            for level in AreaLevel:
                batch = [
                    {
                        "code": row.code,
                        "name": row.name,
                        "level": row.level.value,
                        "parent_id": ids[row.parent_code] if row.parent_code else None,
                        "path": paths[row.code],
                    }
                    for _, row in rows
                    if row.level is level
                ]
                ids.update(await writer.upsert_areas(batch))

        return WritePlan(len(rows), run, self._conn)

    async def _providers(self) -> WritePlan:
        rows = self._parsed.rows
        areas = dict(await lookup(
            self._conn, Area.code, (c for _, row in rows for c in row.area_codes), Area.code, Area.id
        ))
        existing = dict(await lookup(self._conn, Provider.code, (row.code for _, row in rows),
                                     Provider.code, Provider.id))
        for line, row in rows:
            unknown = [code for code in row.area_codes if code not in areas]
            if unknown:
                self._error(line, "area_codes", f"no such area: {', '.join(unknown)}")
        values = [
            {
                "code": row.code,
                "name": row.name,
                "service_types": list(row.service_types),
                "capacity": row.capacity,
                "rating": row.rating,
                "phone": row.phone,
                "active": True,
            }
            for _, row in rows
        ]
        self._report.inserted = sum(1 for _, row in rows if row.code not in existing)
        self._report.updated = len(rows) - self._report.inserted
        self._report.linked["areas_linked"] = sum(len(row.area_codes) for _, row in rows)

        async def run(writer: DirectoryWriter) -> None:
            ids = await writer.upsert_providers(values, _update_columns(self._columns, _PROVIDER_COLUMNS))
            links = [
                {"provider_id": ids[row.code], "area_id": areas[code]}
                for _, row in rows
                for code in row.area_codes
            ]
            await writer.replace_provider_areas(list(existing.values()), links)

        total = len(values) + self._report.linked["areas_linked"]
        return WritePlan(total, run, self._conn)

    async def _elders(self) -> WritePlan:
        rows = self._parsed.rows
        areas = {
            code: (id_, level)
            for code, id_, level in await lookup(
                self._conn, Area.code, (row.area_code for _, row in rows), Area.code, Area.id, Area.level
            )
        }
        providers = dict(await lookup(
            self._conn, Provider.code, (row.provider_code for _, row in rows if row.provider_code),
            Provider.code, Provider.id,
        ))
        existing = dict(await lookup(self._conn, Elder.code, (row.code for _, row in rows),
                                     Elder.code, Elder.id))
        blind = {row.code: self._cipher.blind_index(row.id_number) for _, row in rows}
        id_owner = dict(await lookup(self._conn, Elder.id_number_index, blind.values(),
                                     Elder.id_number_index, Elder.code))
        device_owner = dict(await lookup(
            self._conn, SosDevice.device_id, (d for _, row in rows for d in row.sos_devices),
            SosDevice.device_id, SosDevice.elder_id,
        ))
        replaced_devices = "sos_devices" in self._columns
        owner_codes = dict(await lookup(
            self._conn, Elder.id, set(device_owner.values()), Elder.id, Elder.code
        ))
        in_file = {row.code for _, row in rows}
        for line, row in rows:
            area = areas.get(row.area_code)
            if area is None:
                self._error(line, "area_code", f"{row.area_code}: no such area (import areas first)")
            elif area[1] != AreaLevel.COMMUNITY.value:
                self._error(line, "area_code", f"{row.area_code} is a {area[1]}; an elder belongs to a community")
            if row.provider_code and row.provider_code not in providers:
                self._error(line, "provider_code", f"{row.provider_code}: no such provider")
            owner = id_owner.get(blind[row.code])
            if owner is not None and owner != row.code:
                self._error(line, "id_number", f"already belongs to elder {owner}")
            for device in row.sos_devices:
                holder = owner_codes.get(device_owner.get(device))
                if holder and holder != row.code and not (replaced_devices and holder in in_file):
                    self._error(line, "sos_devices", f"{device} is bound to elder {holder}")
        now = utcnow()
        values = [
            {
                "code": row.code,
                "name": row.name,
                "gender": row.gender.value,
                "birth_date": row.birth_date,
                **sealed_id_columns(self._cipher, row.id_number),
                "address": row.address,
                "area_id": areas.get(row.area_code, (None,))[0],
                "lives_alone": row.lives_alone,
                "disabled": row.disabled,
                "health_notes": row.health_notes,
                "language": row.language,
                "hearing": row.hearing,
                "provider_id": providers.get(row.provider_code) if row.provider_code else None,
                "status": row.status.value,
                "created_at": now,
                "updated_at": now,
            }
            for _, row in rows
        ] if not self._parsed.errors else []
        update_columns = [*_update_columns(self._columns, _ELDER_COLUMNS), "updated_at"]
        phones = sum(len(row.phones) for _, row in rows)
        devices = sum(len(row.sos_devices) for _, row in rows)
        self._report.inserted = sum(1 for _, row in rows if row.code not in existing)
        self._report.updated = len(rows) - self._report.inserted
        self._report.linked.update(phones=phones, sos_devices=devices)

        async def run(writer: DirectoryWriter) -> None:
            ids = await writer.upsert_elders(values, update_columns)
            updated_ids = list(existing.values())
            if "phones" in self._columns:
                await writer.replace_phones(updated_ids, [
                    {"elder_id": ids[row.code], "number": number}
                    for _, row in rows for number in row.phones
                ])
            if replaced_devices:
                await writer.replace_devices(updated_ids, [
                    {"elder_id": ids[row.code], "device_id": device,
                     "active": row.status is not ElderStatus.DECEASED}
                    for _, row in rows for device in row.sos_devices
                ])
            deceased = [ids[row.code] for _, row in rows if row.status is ElderStatus.DECEASED]
            if deceased and "status" in self._columns:
                # B §7.3.6 / D §7.3.4: a deceased elder's devices are stopped.
                await self._conn.execute(
                    update(SosDevice).where(SosDevice.elder_id.in_(deceased)).values(active=False)
                )

        return WritePlan(len(rows) + phones + devices, run, self._conn)

    async def _contacts(self) -> WritePlan:
        rows = self._parsed.rows
        elders = dict(await lookup(self._conn, Elder.code, (row.elder_code for _, row in rows),
                                   Elder.code, Elder.id))
        for line, row in rows:
            if row.elder_code not in elders:
                self._error(line, "elder_code", f"{row.elder_code}: no such elder (import elders first)")
        slots = set(await lookup(self._conn, Contact.elder_id, elders.values(),
                                 Contact.elder_id, Contact.role, Contact.priority))
        values = [
            {
                "elder_id": elders[row.elder_code],
                "role": row.role.value,
                "name": row.name,
                "relation": row.relation,
                "phone": row.phone,
                "email": row.email,
                "priority": row.priority,
            }
            for _, row in rows
            if row.elder_code in elders
        ]
        self._report.updated = sum(
            1 for value in values if (value["elder_id"], value["role"], value["priority"]) in slots
        )
        self._report.inserted = len(rows) - self._report.updated

        async def run(writer: DirectoryWriter) -> None:
            await writer.upsert_contacts(values)

        return WritePlan(len(values), run, self._conn)
