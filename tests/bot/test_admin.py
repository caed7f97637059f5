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
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bot.admin import router as admin_router
from bot.app import create_app
from bot.settings import Settings
from handoff import staff
from knowledge import KnowledgeStore, open_database
from knowledge.csvio import export_csv
from tests.bot.helpers import IN_HOURS, RunningClock, copy_template, launch_chromium
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
        "/admin/import",
        "/admin/reports",
        "/admin/reports?group=month",
    ):
        r = client.get(path)
        assert r.status_code == 200, path
        assert "<script>" not in r.text and "style=" not in r.text, path
        assert "script-src 'self'" in r.headers["content-security-policy"]


# -- editing -------------------------------------------------------------------------------


def test_a_bad_edit_names_fields_in_japanese_and_saves_nothing(
    app: FastAPI, client: TestClient
) -> None:
    csrf = login(client, "kanri")
    store = KnowledgeStore(app.state.front_door.db)
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
    db = app.state.front_door.db
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


# -- import --------------------------------------------------------------------------------


def test_import_with_one_bad_row_changes_nothing_then_a_good_one_applies(
    app: FastAPI, client: TestClient
) -> None:
    csrf = login(client, "kanri")
    store = KnowledgeStore(app.state.front_door.db)
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


def test_export_zip(client: TestClient) -> None:
    import zipfile

    login(client, "kanri")
    for fmt, name in (("csv", "services.csv"), ("yaml", None)):
        r = client.get(f"/admin/export.zip?format={fmt}")
        assert r.status_code == 200
        names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
        assert (name in names) if name else all(n.endswith(".yaml") for n in names)


# -- in a real browser ---------------------------------------------------------------------


@pytest.mark.browser
def test_an_admin_keeps_the_kb_true_in_chromium(live_url: str, app: FastAPI) -> None:
    from playwright import sync_api

    store = KnowledgeStore(app.state.front_door.db)
    service = store.services()[0]
    org = store.organizations()[0]
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ja-JP")
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
            expect = sync_api.expect
            page.goto(f"{live_url}/inbox/login")
            page.get_by_label("名前").fill("kanri")
            page.get_by_label("パスワード").fill(PASSWORD)
            page.get_by_role("button", name="ログイン").click()
            page.wait_for_url(re.compile(r"/inbox"))

            # edit a service's hours and see them on the service page
            page.goto(f"{live_url}/admin/services/{service.id}")
            page.get_by_label("受付時間（1行に1つ").fill("火・木 13:00-16:30")
            page.get_by_role("button", name="保存").click()
            expect(page.locator("#svc-hours")).to_have_text(re.compile(r"^火・木 13:00–16:30"))
            expect(page.locator(".flash")).to_contain_text("保存しました")

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
            page.screenshot(
                path=str(Path(__file__).resolve().parents[2] / "artifacts" / "admin-try.png"),
                full_page=True,
            )
            page.goto(f"{live_url}/admin/reports")
            expect(page.locator("svg.chart").first).to_be_visible()
            assert errors == []
        finally:
            browser.close()


def test_reports_page_and_csv_for_a_period(app: FastAPI, client: TestClient) -> None:
    from handoff import Consent, TranscriptEntry, open_case
    from triage.assessment import Assessment, CategoryFinding

    db = app.state.front_door.db
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
