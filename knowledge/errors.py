"""Named errors of the knowledge package; translated to HTTP/CLI at the edges."""

from __future__ import annotations

from pydantic_core import ErrorDetails


class KnowledgeError(Exception):
    """Base class for knowledge-base errors."""


class NotFound(KnowledgeError):
    """An organization or service id that does not exist."""


class OrganizationRetired(KnowledgeError):
    """A service may not be active or paused while its organization is retired."""


#: what an import says when it would leave a service active under a retired organization,
#: on the service's status, and on the organization's when the service is not in the file
SERVICE_OF_RETIRED = "組織 {org} は廃止です。サービスも retired にしてください"
LEFT_UNDER_RETIRED = "サービス {service} が公開のまま残ります。サービスも廃止にしてください"


class LoadError(KnowledgeError):
    """A knowledge-base file that cannot be loaded; nothing was changed.

    Carries every problem found, each naming the file, the record and the
    field, so an admin can fix the file in one pass.
    """

    def __init__(self, problems: list[LoadProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class LoadProblem:
    """One problem in one field of one record of one file."""

    def __init__(self, file: str, record: str, field: str, message: str) -> None:
        self.file = file
        self.record = record
        self.field = field
        self.message = message

    def __str__(self) -> str:
        return f"{self.file}: {self.record}: {self.field}: {self.message}"

    def __repr__(self) -> str:
        return f"LoadProblem({self!s})"


# -- Japanese messages for pydantic's built-in errors ---------------------------------

_JA = {
    "int_parsing": "整数で書いてください",
    "int_type": "整数で書いてください",
    "int_from_float": "整数で書いてください",
    "string_type": "文字で書いてください",
    "string_too_short": "入力してください",
    "too_short": "1つ以上選んでください",
    "string_too_long": "長すぎます",
    "literal_error": "選択肢から選んでください",
    "date_parsing": "日付は YYYY-MM-DD で書いてください",
    "date_from_datetime_parsing": "日付は YYYY-MM-DD で書いてください",
    "date_type": "日付は YYYY-MM-DD で書いてください",
    "greater_than_equal": "小さすぎます",
    "less_than_equal": "大きすぎます",
    "missing": "入力してください",
    "bool_parsing": "はい か いいえ で書いてください",
    "bool_type": "true か false で書いてください",
    "extra_forbidden": "知らない項目です（綴りを確かめてください）",
    "list_type": "一覧（- で始まる行、または [a, b]）で書いてください",
    "model_type": "項目の組（名前: 値）で書いてください",
    "model_attributes_type": "項目の組（名前: 値）で書いてください",
    "dict_type": "項目の組（名前: 値）で書いてください",
}


def ja_message(err: ErrorDetails) -> str:
    """A pydantic error as a Japanese sentence an admin can act on."""
    if err["type"] == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    if err["type"] in ("greater_than_equal", "less_than_equal"):
        limit = (err.get("ctx") or {}).get("ge", (err.get("ctx") or {}).get("le"))
        word = "以上" if err["type"] == "greater_than_equal" else "以下"
        return f"{limit}{word}にしてください"
    return _JA.get(err["type"], str(err["msg"]))
