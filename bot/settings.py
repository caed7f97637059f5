"""One typed settings object, read from ``TSUNAGU_*`` env vars and validated at start."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PLACEHOLDERS = {"", "changeme", "change-me", "xxx", "secret", "your-secret", "todo", "dummy"}


class SettingsError(Exception):
    """Settings that cannot work; the message says exactly what to set."""


class Settings(BaseSettings):
    """Everything tsunagu reads from the environment."""

    model_config = SettingsConfigDict(env_prefix="TSUNAGU_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./data")
    embedder: str = "e5-small"
    # triage in a child process (the server's loop keeps its core); off: a thread
    triage_process: bool = True
    # how much lower the triage process runs than the server (os.nice increment)
    triage_nice: int = Field(default=5, ge=0, le=19)
    # encoder threads in the triage process (0: the library's default, all cores)
    triage_threads: int = Field(default=1, ge=0, le=64)

    # channels (a channel without credentials is off)
    line_channel_secret: str | None = None
    line_channel_access_token: str | None = None
    line_api_base_url: str = "https://api.line.me"
    telegram_bot_token: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"

    # office hours, local time
    timezone: str = "Asia/Tokyo"
    office_open: str = "08:30"
    office_close: str = "17:15"
    office_days: str = Field(default="mon,tue,wed,thu,fri")
    reply_within_minutes: int = 30

    # admin: a service not confirmed for this many months is flagged as stale
    kb_stale_months: int = Field(default=6, ge=1, le=120)

    # inbox: a referral's answer is due after this many business days (no weekends,
    # national holidays or 12/29–1/3); due follow-ups are looked for this often (seconds)
    referral_deadline_business_days: int = Field(default=2, ge=1, le=30)
    follow_up_check_seconds: float = Field(default=30.0, gt=0, le=3600)

    # outbox delivery: exponential backoff between attempts, then give up
    outbox_backoff_seconds: float = Field(default=2.0, gt=0)
    outbox_backoff_max_seconds: float = Field(default=300.0, gt=0)
    outbox_max_attempts: int = Field(default=10, ge=1)

    # hostile input: request bodies above these are refused with 413 before they are read
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    #: the admin's CSV import (four sheets of up to 5 MB each, plus the form)
    max_import_bytes: int = Field(default=21_000_000, ge=1024)

    # behind a reverse proxy that terminates HTTPS: honour its X-Forwarded-Proto/-For
    # (only from these addresses), so cookies get ``Secure`` and throttling sees the client
    behind_proxy: bool = False
    forwarded_allow_ips: str = "127.0.0.1"

    # the inbox login: besides the per-account lockout, failed logins per client address
    login_ip_max_failures: int = Field(default=20, ge=1)
    login_ip_window_minutes: int = Field(default=15, ge=1)

    # privacy: ``tsunagu purge`` removes closed cases' contents older than this
    retention_days: int = Field(default=365, ge=1)

    # DEBUG, INFO, WARNING or ERROR (no level ever logs what a resident wrote)
    log_level: str = "INFO"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception as exc:  # zoneinfo raises several kinds
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("log level must be DEBUG, INFO, WARNING or ERROR")
        return level

    @field_validator("office_open", "office_close")
    @classmethod
    def _hm(cls, value: str) -> str:
        dt.datetime.strptime(value, "%H:%M")
        return value

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        problems = []
        for name in (
            "line_channel_secret",
            "line_channel_access_token",
            "telegram_bot_token",
            "telegram_webhook_secret",
        ):
            value = getattr(self, name)
            if value is not None and value.strip().lower() in _PLACEHOLDERS:
                problems.append(
                    f"TSUNAGU_{name.upper()} is a placeholder; set the real value or unset it"
                )
        line = (self.line_channel_secret, self.line_channel_access_token)
        if any(v for v in line) and not all(v for v in line):
            missing = (
                "TSUNAGU_LINE_CHANNEL_SECRET"
                if not line[0]
                else "TSUNAGU_LINE_CHANNEL_ACCESS_TOKEN"
            )
            problems.append(f"LINE needs both credentials: {missing} is missing")
        tg = (self.telegram_bot_token, self.telegram_webhook_secret)
        if any(v for v in tg) and not all(v for v in tg):
            missing = (
                "TSUNAGU_TELEGRAM_BOT_TOKEN" if not tg[0] else "TSUNAGU_TELEGRAM_WEBHOOK_SECRET"
            )
            problems.append(
                f"Telegram needs both the token and the webhook secret: {missing} is missing"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "tsunagu.db"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def line_enabled(self) -> bool:
        return bool(self.line_channel_secret and self.line_channel_access_token)

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token and self.telegram_webhook_secret)


def load_settings() -> Settings:
    """Read and validate the settings, turning pydantic's error into plain words."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            name = f"TSUNAGU_{where.upper()}" if where else "settings"
            lines.append(f"{name}: {err['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from exc
