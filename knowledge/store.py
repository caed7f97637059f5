"""The knowledge store: organizations, services, hours and example concerns.

The store owns the knowledge tables; nobody else writes them. Every write
bumps ``kb_meta.version`` so readers (the triage index) can tell the KB moved.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from .errors import NotFound, OrganizationRetired
from .migrations import migrate
from .models import WEEKDAYS, ExampleConcern, Organization, OrganizationFile, Schedule, Service


@dataclass(frozen=True)
class Concern:
    """One example concern as the index sees it."""

    id: int
    service_id: str
    text: str
    category: str


@dataclass
class ApplyReport:
    """What an apply changed, by id."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)


def _organization(row: dict[str, Any]) -> Organization:
    row = dict(row)
    row.pop("updated_at")
    return Organization.model_validate(row)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class KnowledgeStore:
    """Read and write the knowledge base on one sqlite-utils database."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        migrate(db)

    # -- reading ---------------------------------------------------------

    @property
    def version(self) -> int:
        """A counter bumped by every change to the KB."""
        row = self.db.execute("SELECT value FROM kb_meta WHERE key = 'version'").fetchone()
        return int(row[0])

    def organization(self, org_id: str) -> Organization:
        rows = list(self.db.query("SELECT * FROM organizations WHERE id = ?", [org_id]))
        if not rows:
            raise NotFound(f"organization {org_id!r} does not exist")
        return _organization(rows[0])

    def organizations(self) -> list[Organization]:
        return [_organization(r) for r in self.db.query("SELECT * FROM organizations ORDER BY id")]

    def service(self, service_id: str) -> Service:
        rows = list(self.db.query("SELECT * FROM services WHERE id = ?", [service_id]))
        if not rows:
            raise NotFound(f"service {service_id!r} does not exist")
        return self._hydrate([rows[0]])[0]

    def services(
        self,
        *,
        category: str | None = None,
        organization_id: str | None = None,
        include_retired: bool = False,
    ) -> list[Service]:
        """Services, optionally of one category or organization; retired ones only when asked."""
        where = [] if include_retired else ["status != 'retired'"]
        params: list[Any] = []
        if organization_id is not None:
            where.append("organization_id = ?")
            params.append(organization_id)
        if category:
            where.append("EXISTS (SELECT 1 FROM json_each(services.categories) WHERE value = ?)")
            params.append(category)
        sql = "SELECT * FROM services"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id"
        return self._hydrate(list(self.db.query(sql, params)))

    def services_by_id(self, ids: Iterable[str]) -> dict[str, Service]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        marks = ",".join("?" for _ in wanted)
        rows = list(self.db.query(f"SELECT * FROM services WHERE id IN ({marks})", wanted))
        return {s.id: s for s in self._hydrate(rows)}

    def concerns(self) -> list[Concern]:
        """Example concerns of every active service: what the index matches."""
        return [
            Concern(
                r["id"],
                r["service_id"],
                r["text"],
                r["category"] or json.loads(r["categories"])[0],
            )
            for r in self.db.query(
                """
                SELECT c.id, c.service_id, c.text, c.category, s.categories
                FROM example_concerns c
                JOIN services s ON s.id = c.service_id
                WHERE s.status = 'active' ORDER BY c.id
                """
            )
        ]

    def content_hash(self) -> str:
        """Hash of the active example concerns (id and text): the index's KB tag."""
        h = hashlib.sha256()
        for c in self.concerns():
            h.update(f"{c.id}\t{c.service_id}\t{c.category}\t{c.text}\n".encode())
        return h.hexdigest()[:16]

    def _hydrate(self, rows: list[dict[str, Any]]) -> list[Service]:
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        marks = ",".join("?" for _ in ids)
        schedules: dict[str, dict[tuple[str, str], list[str]]] = {}
        for s in self.db.query(
            f"SELECT * FROM schedules WHERE service_id IN ({marks}) ORDER BY id", ids
        ):
            by_time = schedules.setdefault(s["service_id"], {})
            by_time.setdefault((s["opens"], s["closes"]), []).append(WEEKDAYS[s["weekday"]])
        concerns: dict[str, list[ExampleConcern]] = {}
        for c in self.db.query(
            "SELECT service_id, text, category FROM example_concerns"
            f" WHERE service_id IN ({marks}) ORDER BY id",
            ids,
        ):
            concerns.setdefault(c["service_id"], []).append(
                ExampleConcern(text=c["text"], category=c["category"])
            )
        out = []
        for r in rows:
            data = dict(r)
            for key in ("categories", "crisis_types", "languages"):
                data[key] = json.loads(data[key])
            data["open_on_holidays"] = bool(data["open_on_holidays"])
            for bookkeeping in ("content_hash", "updated_at", "retired_with_organization"):
                data.pop(bookkeeping)
            data["schedule"] = [
                Schedule.model_validate({"days": days, "opens": o, "closes": c})
                for (o, c), days in schedules.get(r["id"], {}).items()
            ]
            data["example_concerns"] = concerns.get(r["id"], [])
            out.append(Service.model_validate(data))
        return out

    # -- writing ---------------------------------------------------------

    def _bump(self) -> None:
        self.db.execute(
            "UPDATE kb_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version'"
        )

    def upsert_organization(self, org: Organization) -> bool:
        """Insert or update an organization; True when something changed."""
        existing = list(self.db.query("SELECT * FROM organizations WHERE id = ?", [org.id]))
        row = {**org.model_dump(), "updated_at": _now()}
        if existing:
            old = dict(existing[0])
            old.pop("updated_at")
            if old == org.model_dump():
                return False
        with self.db.atomic():
            self.db.table("organizations").upsert(row, pk="id")
            self._bump()
        return True

    def upsert_service(self, service: Service) -> str:
        """Insert or update a service; returns 'added', 'changed' or 'unchanged'.

        Example concerns whose text did not change keep their ids, so the
        index re-embeds only what is new.
        """
        if not service.organization_id:
            raise ValueError("service has no organization_id")
        org = self.organization(service.organization_id)  # raises NotFound
        if org.status == "retired" and service.status != "retired":
            raise OrganizationRetired(
                f"organization {org.id!r} is retired: service {service.id!r} must be retired too"
            )
        digest = service.content_hash()
        existing = self.db.execute(
            "SELECT content_hash, status FROM services WHERE id = ?", [service.id]
        ).fetchone()
        if existing and existing[0] == digest:
            return "unchanged"
        data = service.model_dump(mode="json", exclude={"schedule", "example_concerns"})
        for key in ("categories", "crisis_types", "languages"):
            data[key] = json.dumps(data[key], ensure_ascii=False)
        data["open_on_holidays"] = int(service.open_on_holidays)
        data["content_hash"] = digest
        data["updated_at"] = _now()
        if existing is None or existing[1] != service.status:
            data["retired_with_organization"] = None  # a status set by hand is the truth
        with self.db.atomic():
            self.db.table("services").upsert(data, pk="id")
            self.db.execute("DELETE FROM schedules WHERE service_id = ?", [service.id])
            for s in service.schedule:
                for day in s.days:
                    self.db.execute(
                        "INSERT INTO schedules (service_id, weekday, opens, closes)"
                        " VALUES (?, ?, ?, ?)",
                        [service.id, WEEKDAYS.index(day), s.opens, s.closes],
                    )
            old = {
                (r["text"], r["category"]): r["id"]
                for r in self.db.query(
                    "SELECT id, text, category FROM example_concerns WHERE service_id = ?",
                    [service.id],
                )
            }
            keep = {(c.text, c.category) for c in service.example_concerns}
            for old_key, cid in old.items():
                if old_key not in keep:
                    self.db.execute("DELETE FROM example_concerns WHERE id = ?", [cid])
            for c in service.example_concerns:
                if (c.text, c.category) not in old:
                    self.db.execute(
                        "INSERT INTO example_concerns (service_id, text, category)"
                        " VALUES (?, ?, ?)",
                        [service.id, c.text, c.category],
                    )
            self._bump()
        return "changed" if existing else "added"

    def set_status(self, service_id: str, status: str) -> None:
        """Retire or reactivate a service (its concerns leave or join the index)."""
        if status not in ("active", "inactive", "retired"):
            raise ValueError(f"unknown status {status!r}")
        service = self.service(service_id)
        self.upsert_service(service.model_copy(update={"status": status}))

    def organization_as_applied(self, org: Organization) -> Organization:
        """``org`` as an import would write it: a file silent on status keeps the store's."""
        if "status" in org.model_fields_set:
            return org
        try:
            kept = self.organization(org.id).status
        except NotFound:
            return org
        return org.model_copy(update={"status": kept})

    def active_under_retired(self, files: Iterable[OrganizationFile]) -> list[tuple[str, str]]:
        """(organization id, service id) pairs that applying ``files`` would leave active
        or paused under a retired organization: what an import must refuse."""
        org_status = {o.id: o.status for o in self.organizations()}
        owner_status = {
            s.id: (s.organization_id, s.status) for s in self.services(include_retired=True)
        }
        for f in files:
            org_status[f.organization.id] = self.organization_as_applied(f.organization).status
            for s in f.services:
                owner_status[s.id] = (f.organization.id, s.status)
        return [
            (oid, sid)
            for sid, (oid, status) in sorted(owner_status.items())
            if status != "retired" and org_status.get(oid) == "retired"
        ]

    def retire_organization(self, org_id: str) -> list[str]:
        """Retire an organization and every service of it not retired yet (one transaction).

        Each such service remembers its status, so ``restore_organization``
        brings back exactly these. Returns their ids.
        """
        org = self.organization(org_id)
        retired = []
        with self.db.atomic():
            self.upsert_organization(org.model_copy(update={"status": "retired"}))
            for s in self.services(organization_id=org_id):
                self.upsert_service(s.model_copy(update={"status": "retired"}))
                self.db.execute(
                    "UPDATE services SET retired_with_organization = ? WHERE id = ?",
                    [s.status, s.id],
                )
                retired.append(s.id)
        return retired

    def retired_with_organization(self, org_id: str) -> dict[str, str]:
        """Services retired together with their organization: id → the status they had."""
        return {
            r["id"]: r["retired_with_organization"]
            for r in self.db.query(
                "SELECT id, retired_with_organization FROM services"
                " WHERE organization_id = ? AND status = 'retired'"
                " AND retired_with_organization IS NOT NULL ORDER BY id",
                [org_id],
            )
        }

    def restore_organization(self, org_id: str) -> list[str]:
        """Make a retired organization active again, with the services retired with it.

        Services retired before (or by hand) stay retired. Returns the ids restored.
        """
        org = self.organization(org_id)
        held = self.retired_with_organization(org_id)
        with self.db.atomic():
            self.upsert_organization(org.model_copy(update={"status": "active"}))
            for sid, status in held.items():
                self.upsert_service(self.service(sid).model_copy(update={"status": status}))
        return list(held)

    def apply(
        self, files: Iterable[OrganizationFile], *, retire_missing: bool = False
    ) -> ApplyReport:
        """Write many organizations and services in one transaction."""
        report = ApplyReport()
        files = list(files)
        seen: set[str] = set()
        with self.db.atomic():
            for f in files:
                self.upsert_organization(self.organization_as_applied(f.organization))
                for s in f.services:
                    s = s.model_copy(update={"organization_id": f.organization.id})
                    seen.add(s.id)
                    outcome = self.upsert_service(s)
                    getattr(report, outcome).append(s.id)
            if retire_missing:
                for s in self.services():
                    if s.id not in seen:
                        self.set_status(s.id, "retired")
                        report.retired.append(s.id)
        return report

    def export(self) -> Iterator[OrganizationFile]:
        """Every organization with its services, as the YAML files carry them."""
        services = self.services(include_retired=True)
        for org in self.organizations():
            yield OrganizationFile(
                organization=org,
                services=[
                    s.model_copy(update={"organization_id": ""})
                    for s in services
                    if s.organization_id == org.id
                ],
            )
