"""FastAPI dependencies as ``Annotated`` aliases, so routes stay short.

Routes that touch the database must be ``async def``: they then run on the
event loop thread like the workers, and the one shared connection is never
used from two threads at once.
"""

from __future__ import annotations

from typing import Annotated

import sqlite_utils
from fastapi import Depends, Request

from .events import Intake
from .frontdoor import FrontDoor
from .settings import Settings


def get_front_door(request: Request) -> FrontDoor:
    front_door: FrontDoor = request.app.state.front_door
    return front_door


def get_db(request: Request) -> sqlite_utils.Database:
    return get_front_door(request).db


def get_intake(request: Request) -> Intake:
    return get_front_door(request).intake


def get_settings(request: Request) -> Settings:
    return get_front_door(request).settings


FrontDoorDep = Annotated[FrontDoor, Depends(get_front_door)]
DbDep = Annotated[sqlite_utils.Database, Depends(get_db)]
IntakeDep = Annotated[Intake, Depends(get_intake)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
