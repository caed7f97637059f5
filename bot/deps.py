"""FastAPI dependencies as ``Annotated`` aliases, so routes stay short.

Routes that touch the database must be ``async def``: they then run on the
event loop thread like the workers, and the one shared connection is never
used from two threads at once.
"""

from __future__ import annotations

from typing import Annotated

import sqlite_utils
from fastapi import Depends, Request

from handoff.staff import StaffSession, csrf_ok, session_for

from .events import Intake
from .frontdoor import FrontDoor
from .settings import Settings


def front_door_of(request: Request) -> FrontDoor:
    front_door: FrontDoor = request.app.state.front_door
    return front_door


# The dependencies are ``async`` although they only read an attribute: FastAPI
# runs a plain ``def`` dependency in its thread pool, a thread hop per request.


async def get_front_door(request: Request) -> FrontDoor:
    return front_door_of(request)


async def get_db(request: Request) -> sqlite_utils.Database:
    return front_door_of(request).db


async def get_intake(request: Request) -> Intake:
    return front_door_of(request).intake


async def get_settings(request: Request) -> Settings:
    return front_door_of(request).settings


FrontDoorDep = Annotated[FrontDoor, Depends(get_front_door)]
DbDep = Annotated[sqlite_utils.Database, Depends(get_db)]
IntakeDep = Annotated[Intake, Depends(get_intake)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


#: the staff inbox's session cookie (a random token; the server keeps its hash)
STAFF_COOKIE = "tsunagu_staff"


class LoginRequired(Exception):
    """No live staff session: pages redirect to the login form, the API answers 401."""


class Forbidden(Exception):
    """Logged in, but the role or the CSRF token does not allow this: 403."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def current_staff(request: Request) -> StaffSession:
    """The logged-in staff member; every POST must also carry the session's CSRF token.

    ``async`` on purpose: it reads the database on the event loop thread.
    """
    front_door = front_door_of(request)
    token = request.cookies.get(STAFF_COOKIE, "")
    session = session_for(front_door.db, token, now=front_door.now()) if token else None
    if session is None:
        raise LoginRequired()
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        submitted = request.headers.get("x-csrf-token")
        if submitted is None:
            form = await request.form()
            value = form.get("csrf")
            submitted = value if isinstance(value, str) else None
        if not csrf_ok(session, submitted):
            raise Forbidden("CSRF token missing or wrong")
    request.state.staff_session = session
    return session


async def admin_staff(session: Annotated[StaffSession, Depends(current_staff)]) -> StaffSession:
    if not session.staff.is_admin:
        raise Forbidden("admins only")
    return session


CurrentStaff = Annotated[StaffSession, Depends(current_staff)]
AdminStaff = Annotated[StaffSession, Depends(admin_staff)]
