"""The admin pages through the real app: auth/role/CSRF on every route, editing the KB
with Japanese field errors and nothing half-saved, the audit trail, the CSV import with a
preview, "Try it" routing to a new service without a restart, and the same in Chromium."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import shutil
import sqlite3
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.admin import router as admin_router
from bot.app import create_app
from bot.settings import Settings
from handoff import staff
from knowledge import KnowledgeStore, open_database
from knowledge.csvio import export_csv
from tests.bot.helpers import (
    ELDERLY,
    IN_HOURS,
    RunningClock,
    copy_template,
    launch_chromium,
    own_db,
    wait_for,
)
from triage import Triage

PASSWORD = "admin password 123"
T = dt.datetime(2025, 6, 3, 0, 0, tzinfo=dt.UTC)
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')

SHOKUDO_CONCERNS = [
    "週末に子どもがひとりでごはんを食べている",
    "子ども食堂に行ってみたい",
    "子どもにあたたかい夕ごはんを食べさせたい",
]


@pytest.fixture
def app(template_db: Path, settings: Settings, triage_engine: Triage, tmp_path: Path) -> FastAPI:
    copy_template(template_db, settings)
    db = open_database(settings.db_path)
    staff.add_staff(db, "sato", PASSWORD, role="staff", now=T)
    staff.add_staff(db, "kanri", PASSWORD, role="admin", now=T)
    db.conn.close()
    # a triage engine on this app's own database (the shared one reads another copy), reusing
    # the loaded embedder and a copy of the cached index: only changes are re-embedded
    index_dir = tmp_path / "index"
    assert triage_engine.index.directory is not None
    shutil.copytree(triage_engine.index.directory, index_dir)
    store = KnowledgeStore(open_database(settings.db_path, check_same_thread=False))
    engine = Triage(store, triage_engine.embedder, index_dir, tuning=triage_engine.tuning)
    return create_app(settings, now=RunningClock(IN_HOURS), triage=engine)


def login(client: TestClient, name: str) -> str:
    page = client.get("/inbox/login")
    token = _CSRF.search(page.text)
    assert token is not None
    r = client.post(
        "/inbox/login",
        data={"name": name, "password": PASSWORD, "csrf": token.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    found = _CSRF.search(client.get("/inbox").text)
    assert found is not None
    return found.group(1)


def _service_form(client: TestClient, service_id: str) -> dict[str, Any]:
    """The edit form's current values, as the browser would post them."""
    html = client.get(f"/admin/services/{service_id}").text
    form = html[html.index('<form method="post" class="edit"') :]
    values: dict[str, Any] = {"categories": [], "crisis_types": []}
    for m in re.finditer(r"<input ([^>]*)>", form):
        attrs = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        name = attrs.get("name")
        if not name:
            continue
        if attrs.get("type") == "checkbox":
            if "checked" in m.group(1).split():
                if name in ("categories", "crisis_types"):
                    values[name].append(attrs["value"])
                else:
                    values[name] = attrs["value"]
        else:
            values[name] = _unescape(attrs.get("value", ""))
    for m in re.finditer(r'<textarea [^>]*name="(\w+)"[^>]*>(.*?)</textarea>', form, re.S):
        values[m.group(1)] = _unescape(m.group(2))
    for m in re.finditer(r'<select [^>]*name="(\w+)"[^>]*>(.*?)</select>', form, re.S):
        sel = re.search(r'<option value="([^"]*)" selected', m.group(2))
        values[m.group(1)] = sel.group(1) if sel else ""
    return values


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


# -- auth, roles, CSRF on every admin route -------------------------------------------------


def _admin_routes(app: FastAPI) -> list[tuple[str, str]]:
    out = []
    for route in admin_router.routes:
        path = getattr(route, "path", "")
        if path.startswith("/admin"):
            for method in sorted(getattr(route, "methods", set()) - {"HEAD"}):
                out.append(
                    (
                        method,
                        path.replace("{service_id}", "x")
                        .replace("{org_id}", "x")
                        .replace("{change}", "retire")
                        .replace("{sheet}", "services.csv"),
                    )
                )
    return out


def test_every_admin_route_refuses_anonymous_staff_and_csrfless(
    app: FastAPI, client: TestClient
) -> None:
    routes = _admin_routes(app)
    assert len(routes) >= 15
    for method, path in routes:
        r = client.request(method, path, follow_redirects=False)
        assert r.status_code in (303, 401), (method, path, r.status_code)
    csrf = login(client, "sato")
    for method, path in routes:
        r = client.request(
            method, path, data={"csrf": csrf} if method == "POST" else None, follow_redirects=False
        )
        assert r.status_code == 403, (method, path, r.status_code)
    client.cookies.clear()
    login(client, "kanri")
    for method, path in routes:
        if method == "POST":
            r = client.post(path, data={"status": "retired"}, follow_redirects=False)
            assert r.status_code == 403, (path, r.status_code)
            r = client.post(
                path, data={"csrf": "wrong", "status": "retired"}, follow_redirects=False
            )
            assert r.status_code == 403, (path, r.status_code)


def test_admin_pages_render_strict(client: TestClient) -> None:
    login(client, "kanri")
    for path in (
        "/admin",
        "/admin/services",
        "/admin/services?stale=1&category=housing",
        "/admin/services/new",
        "/admin/organizations",
        "/admin/organizations/hinata-hikikomori-center",
        "/admin/organizations/hinata-hikikomori-center/retire",
        "/admin/organizations/hinata-hikikomori-center/restore",
        "/admin/import",
        "/admin/reports",
        "/admin/reports?group=month",
    ):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "<script>" not in r.text and "style=" not in r.text, path
        assert "script-src 'self'" in r.headers["content-security-policy"]
    for path in (
        "/admin/services/nope",
        "/admin/organizations/nope",
        "/admin/organizations/nope/retire",
        f"/admin/organizations/{HIKI_ORG}/merge",
    ):
        r = client.get(path)
        assert r.status_code == 404 and "見つかりません" in r.text, path
        assert "script-src 'self'" in r.headers["content-security-policy"]


# -- editing -------------------------------------------------------------------------------


def test_a_bad_edit_names_fields_in_japanese_and_saves_nothing(
    app: FastAPI, client: TestClient
) -> None:
    csrf = login(client, "kanri")
    store = KnowledgeStore(own_db(app))
    service = store.services()[0]
    version = store.version
    form = _service_form(client, service.id)
    form.update(
        csrf=csrf, name="新しい名前", min_age="二十", schedule="月〜金 17:00-09:00", categories=[]
    )
    r = client.post(f"/admin/services/{service.id}", data=form)
    assert r.status_code == 422
    assert "整数で書いてください" in r.text  # min_age
    assert "終了時刻は開始時刻より後にしてください" in r.text  # schedule
    assert "1つ以上選んでください" in r.text  # categories
    assert store.version == version and store.service(service.id).name == service.name


def test_edit_hours_confirm_and_audit(app: FastAPI, client: TestClient) -> None:
    csrf = login(client, "kanri")
    db = own_db(app)
    store = KnowledgeStore(db)
    service = store.services()[0]
    form = _service_form(client, service.id)
    assert form["name"] == service.name  # the form round-trips as shown
    form.update(csrf=csrf, schedule="月・水・金 09:00-12:00\n土 10:00-15:00")
    r = client.post(f"/admin/services/{service.id}", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"]).text
    assert "月・水・金 09:00–12:00、土 10:00–15:00" in page and "保存しました" in page
    after = store.service(service.id)
    assert after.hours_text().startswith("月・水・金 09:00–12:00")
    assert after.example_concerns == service.example_concerns  # nothing else moved
    event = db.execute(
        "SELECT actor, action, from_value, to_value FROM audit_events"
        " WHERE action = 'kb_service_changed' ORDER BY id DESC"
    ).fetchone()
    assert event[0] == "kanri"
    assert json.loads(event[1 + 1])["schedule"] != json.loads(event[3])["schedule"]
    # confirming is one click
    r = client.post(
        f"/admin/services/{service.id}/confirm", data={"csrf": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert store.service(service.id).assured_date == IN_HOURS.date()


def test_retire_takes_a_service_out_of_triage(app: FastAPI, client: TestClient) -> None:
    csrf = login(client, "kanri")
    engine = app.state.front_door.conversation.triage
    text = "母が認知症で、介護に疲れてしまいました"
    first = engine.assess(text).services[0].service_id
    r = client.post(
        f"/admin/services/{first}/status",
        data={"csrf": csrf, "status": "retired"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert first not in [s.service_id for s in engine.assess(text).services]


# -- example concerns -----------------------------------------------------------------------


def test_editing_example_concerns_re_embeds_only_those_and_try_it_follows(
    app: FastAPI, client: TestClient
) -> None:
    csrf = login(client, "kanri")
    engine = app.state.front_door.conversation.triage
    store = KnowledgeStore(own_db(app))
    service = store.service("engawa-oshaberi-denwa")
    old = [c.text for c in service.example_concerns]
    form = _service_form(client, service.id)
    assert form["example_concerns"].splitlines() == old
    # keep all but the first two; change the third; add two (one tagged with a field)
    kept = old[3:]
    lines = [
        "夜になると誰とも話していないことに気づいて寂しい",
        *kept,
        "犬の散歩仲間がほしい",
        "地域のボランティアで誰かの役に立ちたい [participation]",
    ]
    form.update(csrf=csrf, example_concerns="\n".join(lines))
    r = client.post(f"/admin/services/{service.id}", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    after = store.service(service.id)
    # kept ones keep their place (and id); new ones come after them
    assert [c.text for c in after.example_concerns] == [
        *kept,
        "夜になると誰とも話していないことに気づいて寂しい",
        "犬の散歩仲間がほしい",
        "地域のボランティアで誰かの役に立ちたい",
    ]
    assert after.example_concerns[-1].category == "participation"
    sync = engine.last_sync
    assert sync is not None and sync.action == "updated"
    assert (sync.added, sync.removed) == (3, 3)  # only what changed was embedded
    _, ids = engine.index.vectors()
    assert {int(i) for i in ids} == {c.id for c in store.concerns()}
    gone = {c.id for c in store.concerns() if c.text in old[:3]}
    assert gone == set()
    # the edit page shows them back, one a line, with the tag
    page = client.get(f"/admin/services/{service.id}").text
    assert "地域のボランティアで誰かの役に立ちたい [participation]" in page
    # a bad tag is a field error in Japanese, and nothing moves
    version = store.version
    form.update(example_concerns="犬の散歩仲間がほしい [housing]")
    r = client.post(f"/admin/services/{service.id}", data=form)
    assert r.status_code == 422 and "サービスのカテゴリにありません" in r.text
    assert 'id="err-example_concerns"' in r.text and store.version == version
    # Try it routes by the new concern at once
    r = client.post(
        "/admin/try", data={"csrf": csrf, "text": "犬の散歩をいっしょにする仲間がほしいです"}
    )
    assert f'data-service="{service.id}"' in r.text


# -- organizations --------------------------------------------------------------------------

HIKIKOMORI = "息子が10年以上部屋にひきこもっていて、親として疲れてしまいました"
HIKI_ORG = "hinata-hikikomori-center"


def _suggested(engine: Triage, text: str) -> set[str]:
    return {s.service_id for s in engine.assess(text).services}


def test_retiring_an_organization_retires_its_services_and_restoring_brings_them_back(
    app: FastAPI, client: TestClient, query: Callable[..., list[sqlite3.Row]]
) -> None:
    csrf = login(client, "kanri")
    engine = app.state.front_door.conversation.triage
    store = KnowledgeStore(own_db(app))
    own = [s.id for s in store.services(organization_id=HIKI_ORG)]
    assert own == ["hikikomori-ibasho", "hikikomori-kazoku-kyoushitsu", "hikikomori-soudan"]
    assert "hikikomori-soudan" in _suggested(engine, HIKIKOMORI)
    # one paused and one retired by hand before the organization goes
    for sid, status in (
        ("hikikomori-ibasho", "inactive"),
        ("hikikomori-kazoku-kyoushitsu", "retired"),
    ):
        r = client.post(
            f"/admin/services/{sid}/status",
            data={"csrf": csrf, "status": status},
            follow_redirects=False,
        )
        assert r.status_code == 303
    in_index = len([c for c in store.concerns() if c.service_id == "hikikomori-soudan"])

    # the confirm step says how many services go with it, and changes nothing
    version = store.version
    page = client.get(f"/admin/organizations/{HIKI_ORG}/retire").text
    assert "サービス 2件も一緒に廃止" in page
    assert 'data-service="hikikomori-soudan"' in page and 'data-service="hikikomori-ibasho"' in page
    assert "hikikomori-kazoku-kyoushitsu" not in page
    assert store.version == version
    r = client.post(
        f"/admin/organizations/{HIKI_ORG}/retire", data={"csrf": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    page = client.get(r.headers["location"]).text
    assert "組織を廃止しました" in page and 'id="org-status">廃止<' in page
    assert {
        s.id: s.status for s in store.services(organization_id=HIKI_ORG, include_retired=True)
    } == dict.fromkeys(own, "retired")
    # out of triage without a restart: only its concerns left the index, nothing re-embedded
    sync = engine.last_sync
    assert sync is not None and (sync.action, sync.added, sync.removed) == ("updated", 0, in_index)
    assert not _suggested(engine, HIKIKOMORI) & set(own)
    # audited with before and after, the organization's and each service's
    event = query(
        "SELECT from_value, to_value, detail FROM audit_events"
        " WHERE action = 'kb_organization_retired'"
    )[0]
    before, after = json.loads(event["from_value"]), json.loads(event["to_value"])
    assert (
        before["organization"]["status"] == "active"
        and after["organization"]["status"] == "retired"
    )
    assert before["services"] == {"hikikomori-ibasho": "inactive", "hikikomori-soudan": "active"}
    assert json.loads(event["detail"])["service_ids"] == ["hikikomori-ibasho", "hikikomori-soudan"]
    assert (
        len(
            query(
                "SELECT 1 FROM audit_events WHERE action = 'kb_service_status'"
                " AND json_extract(detail, '$.organization_id') = ?",
                HIKI_ORG,
            )
        )
        == 2
    )

    # its services cannot come back alone, and it takes no new ones
    r = client.post(
        "/admin/services/hikikomori-soudan/status", data={"csrf": csrf, "status": "active"}
    )
    assert r.status_code == 409 and "組織は廃止されています" in r.text
    form = _service_form(client, "hikikomori-soudan")
    form.update(csrf=csrf, status="active")
    r = client.post("/admin/services/hikikomori-soudan", data=form)
    assert r.status_code == 422 and 'id="err-status"' in r.text
    assert f'value="{HIKI_ORG}"' not in client.get("/admin/services/new").text
    assert store.service("hikikomori-soudan").status == "retired"

    # restoring brings back exactly the services retired with it, as they were
    page = client.get(f"/admin/organizations/{HIKI_ORG}/restore").text
    assert "サービス 2件が元の状態に戻り" in page
    r = client.post(
        f"/admin/organizations/{HIKI_ORG}/restore", data={"csrf": csrf}, follow_redirects=False
    )
    assert r.status_code == 303
    assert {
        s.id: s.status for s in store.services(organization_id=HIKI_ORG, include_retired=True)
    } == {
        "hikikomori-ibasho": "inactive",
        "hikikomori-kazoku-kyoushitsu": "retired",
        "hikikomori-soudan": "active",
    }
    sync = engine.last_sync
    assert sync is not None and (sync.action, sync.added, sync.removed) == ("updated", in_index, 0)
    assert "hikikomori-soudan" in _suggested(engine, HIKIKOMORI)
    event = query("SELECT to_value FROM audit_events WHERE action = 'kb_organization_restored'")[0]
    assert json.loads(event["to_value"])["services"] == {
        "hikikomori-ibasho": "inactive",
        "hikikomori-soudan": "active",
    }


def test_editing_an_organization_keeps_its_status(app: FastAPI, client: TestClient) -> None:
    csrf = login(client, "kanri")
    store = KnowledgeStore(own_db(app))
    client.post(f"/admin/organizations/{HIKI_ORG}/retire", data={"csrf": csrf})
    r = client.post(
        "/admin/organizations",
        data={"csrf": csrf, "id": HIKI_ORG, "name": "ひきこもり地域支援センター（新）"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    org = store.organization(HIKI_ORG)
    assert org.name == "ひきこもり地域支援センター（新）" and org.status == "retired"
    r = client.post("/admin/organizations", data={"csrf": csrf, "id": "Bad Id", "name": ""})
    assert r.status_code == 422 and "入力してください" in r.text and "小文字の英数字" in r.text


# -- import --------------------------------------------------------------------------------


def test_import_with_one_bad_row_changes_nothing_then_a_good_one_applies(
    app: FastAPI, client: TestClient
) -> None:
    csrf = login(client, "kanri")
    store = KnowledgeStore(own_db(app))
    sheets = export_csv(store)
    rows = list(csv.reader(io.StringIO(sheets["services.csv"].decode("utf-8-sig"), newline="")))
    header = rows[0]

    def sheet(table: list[list[str]]) -> bytes:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerows(table)
        return buf.getvalue().encode("utf-8-sig")

    bad = [list(r) for r in rows]
    bad[2][header.index("status")] = "closed-forever"
    version = store.version
    files = [
        ("files", (name, data, "text/csv"))
        for name, data in sheets.items()
        if name != "services.csv"
    ]
    files.append(("files", ("services.csv", sheet(bad), "text/csv")))
    r = client.post("/admin/import", data={"csrf": csrf}, files=files)
    assert r.status_code == 422
    assert "3行目" in r.text and "M列 status" in r.text and "選択肢から選んでください" in r.text
    assert store.version == version

    # a good file: one changed phone, shown in the preview, applied on confirm
    good = [list(r) for r in rows]
    sid = good[1][0]
    good[1][header.index("phone")] = "0120-000-000"
    files[-1] = ("files", ("services.csv", sheet(good), "text/csv"))
    r = client.post("/admin/import", data={"csrf": csrf}, files=files)
    assert r.status_code == 200 and "変更 1件" in r.text and "phone" in r.text
    assert store.version == version  # a preview writes nothing
    token = re.search(r'name="token" value="([^"]+)"', r.text)
    assert token is not None
    r = client.post("/admin/import/apply", data={"csrf": csrf, "token": token.group(1)})
    assert r.status_code == 200 and "変更 1件" in r.text
    assert store.service(sid).phone == "0120-000-000"
    # the token is single-use
    r = client.post("/admin/import/apply", data={"csrf": csrf, "token": token.group(1)})
    assert r.status_code == 409


def _export(client: TestClient, fmt: str) -> dict[str, bytes]:
    r = client.get(f"/admin/export.zip?format={fmt}")
    assert r.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(r.content))
    return {name: archive.read(name) for name in archive.namelist()}


def _upload(client: TestClient, csrf: str, files: dict[str, bytes]) -> httpx.Response:
    return client.post(
        "/admin/import",
        data={"csrf": csrf},
        files=[("files", (name, data, "application/octet-stream")) for name, data in files.items()],
    )


ENGAWA = "hinata-machi-engawa.yaml"
YORU_CAFE = {
    "id": "engawa-yoru-cafe",
    "name": "よるのえんがわカフェ",
    "kind": "place",
    "categories": ["participation"],
    "schedule": [{"days": ["fri"], "opens": "18:00", "closes": "21:00"}],
    "example_concerns": [
        "仕事帰りに夜ふらっと立ち寄れる場所がほしい",
        "夜ひとりでいると気持ちが沈むので誰かと話したい",
    ],
}


def test_a_yaml_import_previews_then_applies_and_routes_at_once(
    app: FastAPI, client: TestClient, query: Callable[..., list[sqlite3.Row]]
) -> None:
    csrf = login(client, "kanri")
    store = KnowledgeStore(own_db(app))
    engine = app.state.front_door.conversation.triage
    exported = _export(client, "yaml")
    # the export's own zip imports back as no change
    r = _upload(client, csrf, {"kb.zip": _zip(exported)})
    assert r.status_code == 200 and "YAML" in r.text and "変更はありません" in r.text

    data = yaml.safe_load(exported[ENGAWA])
    data["services"][0]["phone"] = "000-1111-2222"
    data["services"].append(YORU_CAFE)
    version = store.version
    r = _upload(client, csrf, {ENGAWA: yaml.safe_dump(data, allow_unicode=True).encode()})
    assert r.status_code == 200, r.text
    assert "追加 1件 ・ 変更 1件 ・ 廃止 0件" in r.text
    assert "よるのえんがわカフェ（engawa-yoru-cafe）" in r.text and ": phone" in r.text
    assert store.version == version  # a preview writes nothing
    token = re.search(r'name="token" value="([^"]+)"', r.text)
    assert token is not None
    r = client.post("/admin/import/apply", data={"csrf": csrf, "token": token.group(1)})
    assert r.status_code == 200 and "追加 1件、変更 1件" in r.text
    assert store.service(data["services"][0]["id"]).phone == "000-1111-2222"
    assert store.service("engawa-yoru-cafe").hours_text() == "金 18:00–21:00"
    events = query(
        "SELECT from_value, to_value, detail FROM audit_events WHERE action = 'kb_import'"
    )
    assert len(events) == 2
    assert {json.loads(e["detail"])["format"] for e in events} == {"yaml"}
    added = next(e for e in events if e["from_value"] is None)
    assert json.loads(added["to_value"])["id"] == "engawa-yoru-cafe"
    sync = engine.last_sync
    assert sync is not None and (sync.action, sync.added, sync.removed) == ("updated", 2, 0)
    r = client.post(
        "/admin/try",
        data={"csrf": csrf, "text": "仕事帰りの夜に、ふらっと寄って話せる場所はありますか"},
    )
    assert 'data-service="engawa-yoru-cafe"' in r.text


BAD_YAML = [
    pytest.param(
        lambda text: text.replace("categories:\n", "categories: [participation\n", 1),
        "行目",
        "(file)",
        "YAML として読めません",
        id="syntax-error",
    ),
    pytest.param(
        lambda text: text.replace("- participation", "- cooking", 1).replace(
            "kind: place", "kind: cafe", 1
        ),
        "services[0] id=engawa-community-cafe",
        "categories",
        "不明なカテゴリ: cooking",
        id="schema-error",
    ),
]


@pytest.mark.parametrize(("spoil", "record", "field", "message"), BAD_YAML)
def test_a_bad_yaml_changes_nothing_and_names_file_record_and_field(
    app: FastAPI,
    client: TestClient,
    spoil: Callable[[str], str],
    record: str,
    field: str,
    message: str,
) -> None:
    csrf = login(client, "kanri")
    store = KnowledgeStore(own_db(app))
    exported = _export(client, "yaml")
    good = yaml.safe_load(exported["hinata-shakyo.yaml"])
    good["services"][0]["phone"] = "000-9999-9999"  # a good change in the same upload
    bad = spoil(exported[ENGAWA].decode())
    assert bad != exported[ENGAWA].decode()
    version = store.version
    r = _upload(
        client,
        csrf,
        {
            "hinata-shakyo.yaml": yaml.safe_dump(good, allow_unicode=True).encode(),
            ENGAWA: bad.encode(),
        },
    )
    assert r.status_code == 422
    problems = re.findall(
        r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>", r.text
    )
    assert problems and all(p[0] == ENGAWA for p in problems), problems
    assert any(record in p[1] and p[2] == field and message in p[3] for p in problems), problems
    if field == "categories":  # every error of the file is named, not just the first
        assert any(p[2] == "kind" and p[3] == "選択肢から選んでください" for p in problems)
    assert "何も変更していません" in r.text and 'id="preview"' not in r.text
    assert store.version == version
    assert store.service(good["services"][0]["id"]).phone != "000-9999-9999"


def test_csv_and_yaml_in_one_upload_are_refused(app: FastAPI, client: TestClient) -> None:
    csrf = login(client, "kanri")
    files = {**_export(client, "csv"), ENGAWA: _export(client, "yaml")[ENGAWA]}
    r = _upload(client, csrf, files)
    assert r.status_code == 422 and "CSV と YAML は別々に取り込んでください" in r.text


def test_export_zip(client: TestClient) -> None:
    login(client, "kanri")
    for fmt, name in (("csv", "services.csv"), ("yaml", None)):
        r = client.get(f"/admin/export.zip?format={fmt}")
        assert r.status_code == 200
        names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
        assert (name in names) if name else all(n.endswith(".yaml") for n in names)


# -- in a real browser ---------------------------------------------------------------------


ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
NEW_HOURS = "火・木 13:00–16:30"


def _watched_page(browser: Any, errors: list[str], width: int = 1280) -> Any:
    """A page in a context of its own (its own cookies) whose script errors are collected."""
    page = browser.new_context(viewport={"width": width, "height": 900}, locale="ja-JP").new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    return page


def _admin_page(browser: Any, live_url: str, errors: list[str]) -> Any:
    page = _watched_page(browser, errors)
    page.goto(f"{live_url}/inbox/login")
    page.get_by_label("名前").fill("kanri")
    page.get_by_label("パスワード").fill(PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    page.wait_for_url(re.compile(r"/(inbox|admin)"))
    return page


@pytest.mark.browser
def test_new_hours_reach_the_service_page_the_web_chat_and_a_new_case_in_chromium(
    live_url: str, app: FastAPI, query: Callable[..., list[sqlite3.Row]]
) -> None:
    from playwright import sync_api

    expect = sync_api.expect
    top = app.state.front_door.conversation.triage.assess(ELDERLY).services[0]
    assert top.hours and NEW_HOURS not in top.hours
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        errors: list[str] = []
        try:
            admin = _admin_page(browser, live_url, errors)
            # the admin changes the hours; the service page shows them
            admin.goto(f"{live_url}/admin/services/{top.service_id}")
            admin.get_by_label("受付時間（1行に1つ").fill("火・木 13:00-16:30")
            admin.get_by_role("button", name="保存").click()
            expect(admin.locator(".flash")).to_contain_text("保存しました")
            expect(admin.locator("#svc-hours")).to_have_text(re.compile(f"^{NEW_HOURS}"))

            # a resident consults through the web chat: the reply gives the new hours
            resident = _watched_page(browser, errors, width=390)
            resident.goto(f"{live_url}/chat")
            bot = resident.locator("#log li.bot")
            expect(bot.first).to_contain_text("どんなことでも", timeout=30_000)
            resident.get_by_label("メッセージ").fill(ELDERLY)
            resident.get_by_role("button", name="送信").click()
            expect(resident.locator("#log")).to_contain_text(top.name, timeout=30_000)
            expect(resident.locator("#log")).to_contain_text(f"受付: {NEW_HOURS}")
            resident.get_by_role("button", name="担当者につなぐ").click()
            expect(bot.last).to_contain_text("伝えてもよいですか", timeout=30_000)
            resident.get_by_role("button", name="伝えてよい").click()
            expect(bot.last).to_contain_text("関係する窓口", timeout=30_000)
            resident.get_by_role("button", name="はい").click()
            expect(bot.last).to_contain_text("担当者におつなぎしました", timeout=30_000)

            # the new case's suggested services show the new hours to staff
            case_id = wait_for(
                lambda: query("SELECT id FROM cases WHERE channel = 'web' ORDER BY id DESC"),
                what="the web chat's case",
            )[0]["id"]
            admin.goto(f"{live_url}/inbox/cases/{case_id}")
            suggested = admin.locator("section.summary ul.services li", has_text=top.name)
            expect(suggested).to_contain_text(NEW_HOURS)
            expect(suggested).not_to_contain_text(top.hours)
            ARTIFACTS.mkdir(exist_ok=True)
            admin.screenshot(path=str(ARTIFACTS / "admin-hours-case.png"), full_page=True)
            assert errors == []
        finally:
            browser.close()


@pytest.mark.browser
def test_an_admin_adds_a_service_and_try_it_routes_to_it_in_chromium(
    live_url: str, app: FastAPI
) -> None:
    from playwright import sync_api

    expect = sync_api.expect
    org = KnowledgeStore(own_db(app)).organizations()[0]
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        errors: list[str] = []
        try:
            page = _admin_page(browser, live_url, errors)
            # add a service with example concerns; Try it routes a matching concern to it
            page.goto(f"{live_url}/admin/services/new?organization_id={org.id}")
            page.get_by_label("ID（英小文字").fill("hinata-kodomo-shokudo")
            page.get_by_label("名前").fill("ひなた子ども食堂")
            page.get_by_label("子ども・子育て").check()
            page.get_by_label("受付時間（1行に1つ").fill("土 11:00-14:00")
            page.get_by_label("相談例（1行に1つ").fill("\n".join(SHOKUDO_CONCERNS))
            page.get_by_role("button", name="保存").click()
            expect(page.locator("h1")).to_have_text("ひなた子ども食堂")
            page.goto(f"{live_url}/admin")
            page.get_by_label("相談の文").fill("週末、子どもがひとりでごはんを食べていて心配です")
            page.get_by_role("button", name="判定する").click()
            expect(page.locator("#try-result")).to_contain_text("子ども・子育て")
            expect(
                page.locator('#try-result li[data-service="hinata-kodomo-shokudo"]')
            ).to_be_visible()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "admin-try.png"), full_page=True)
            page.goto(f"{live_url}/admin/reports")
            expect(page.locator("svg.chart").first).to_be_visible()
            assert errors == []
        finally:
            browser.close()


@pytest.mark.browser
def test_retiring_an_organization_and_a_bad_import_in_chromium(
    live_url: str, app: FastAPI, tmp_path: Path
) -> None:
    from playwright import sync_api

    expect = sync_api.expect
    store = KnowledgeStore(own_db(app))
    sheets = export_csv(store)
    services = list(csv.reader(io.StringIO(sheets["services.csv"].decode("utf-8-sig"), newline="")))
    services[3][services[0].index("status")] = "closed-forever"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(services)
    upload = tmp_path / "csv"
    upload.mkdir()
    for name, data in {**sheets, "services.csv": buf.getvalue().encode("utf-8-sig")}.items():
        (upload / name).write_bytes(data)
    bad_yaml = tmp_path / ENGAWA
    bad_yaml.write_text(
        "organization:\n  id: hinata-machi-engawa\n  name: [えんがわ\n", encoding="utf-8"
    )
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        errors: list[str] = []
        try:
            page = _admin_page(browser, live_url, errors)
            # retire an organization: the confirm step says how many services go with it
            page.goto(f"{live_url}/admin/organizations/{HIKI_ORG}")
            page.get_by_role("link", name="組織を廃止する").click()
            expect(page.locator("#confirm-count")).to_contain_text("サービス 3件も一緒に廃止")
            page.get_by_role("button", name="廃止する").click()
            expect(page.locator("#org-status")).to_have_text("廃止")
            expect(page.locator("#org-services")).not_to_contain_text("公開中")
            page.goto(f"{live_url}/admin")
            page.get_by_label("相談の文").fill(HIKIKOMORI)
            page.get_by_role("button", name="判定する").click()
            expect(page.locator("#try-result")).to_contain_text("ひきこもり")
            expect(page.locator('#try-result li[data-service^="hikikomori-"]')).to_have_count(0)

            # a CSV with one bad row, then a YAML that does not parse: nothing changes
            version = store.version
            page.goto(f"{live_url}/admin/import")
            page.get_by_label("ファイル（CSV なら").set_input_files(sorted(upload.iterdir()))
            page.get_by_role("button", name="内容を確認する").click()
            problems = page.locator("#problems")
            expect(problems).to_contain_text("何も変更していません")
            expect(problems.locator("tbody tr")).to_have_count(1)
            expect(problems.locator("tbody tr")).to_contain_text("4行目")
            expect(problems.locator("tbody tr")).to_contain_text("M列 status")
            page.get_by_label("ファイル（CSV なら").set_input_files(str(bad_yaml))
            page.get_by_role("button", name="内容を確認する").click()
            expect(problems.locator("tbody tr")).to_contain_text(ENGAWA)
            expect(problems.locator("tbody tr")).to_contain_text("YAML として読めません")
            assert store.version == version
            page.screenshot(path=str(ARTIFACTS / "admin-import-refused.png"), full_page=True)
            # the only "errors" are the two refusals' status, as the browser reports it
            refused = [e for e in errors if "status of 422 (Unprocessable Entity)" in e]
            assert len(refused) == 2 and len(errors) == 2, errors
        finally:
            browser.close()


def test_reports_page_and_csv_for_a_period(app: FastAPI, client: TestClient) -> None:
    from handoff import Consent, TranscriptEntry, open_case
    from triage.assessment import Assessment, CategoryFinding

    db = own_db(app)
    at = dt.datetime(2025, 6, 2, 1, 0, tzinfo=dt.UTC)
    for i, codes in enumerate((("poverty",), ("poverty", "housing"), ("poverty",))):
        open_case(
            db,
            resident_ref=f"web:{i}",
            channel="web",
            urgent=False,
            language="ja",
            assessment=Assessment(
                text="…",
                language="ja",
                categories=[CategoryFinding(code=c, label=c, score=1.0) for c in codes],
            ),
            consent=Consent(share_with_staff=True),
            at=at,
            transcript=[TranscriptEntry(role="resident", text="家賃が払えない", at=at)],
        )
    login(client, "kanri")
    page = client.get("/admin/reports?from=2025-06-01&to=2025-06-30").text
    assert re.search(r'id="r-total">3<', page) and "<svg" in page
    body = client.get("/admin/reports.csv?from=2025-06-01&to=2025-06-30").content
    text = body.decode("utf-8-sig")
    assert "per_category,poverty,生活困窮,3" in text and "per_category,housing,住まい,<3" in text
    assert "家賃" not in text
