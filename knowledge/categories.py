"""The fixed category and crisis codes (design.md §4).

Codes are stable: triage, the knowledge base, reports and the eval set all use
them, so they live here, in the package that depends on nothing of ours.
"""

from __future__ import annotations

from typing import Final, Literal

Category = Literal[
    "elderly_care",
    "disability",
    "child_family",
    "poverty",
    "employment",
    "housing",
    "health",
    "hikikomori",
    "dv_abuse",
    "legal",
    "education",
    "foreign_resident",
    "living_environment",
    "participation",
]

CrisisType = Literal["suicide", "violence", "child_abuse", "medical"]

CATEGORIES: Final[dict[str, str]] = {
    "elderly_care": "高齢・介護",
    "disability": "障害",
    "child_family": "子ども・子育て",
    "poverty": "生活困窮",
    "employment": "仕事",
    "housing": "住まい",
    "health": "心と体の健康",
    "hikikomori": "ひきこもり・孤立",
    "dv_abuse": "DV・ストーカー",
    "legal": "法律・お金のトラブル",
    "education": "学校・教育",
    "foreign_resident": "外国籍の方の暮らし",
    "living_environment": "住環境・近隣",
    "participation": "居場所・社会参加",
}

CATEGORIES_EN: Final[dict[str, str]] = {
    "elderly_care": "elderly care",
    "disability": "disability",
    "child_family": "children and family",
    "poverty": "money and living costs",
    "employment": "work",
    "housing": "housing",
    "health": "physical and mental health",
    "hikikomori": "social withdrawal",
    "dv_abuse": "partner violence or stalking",
    "legal": "legal and money trouble",
    "education": "school",
    "foreign_resident": "life as a foreign resident",
    "living_environment": "home surroundings and neighbours",
    "participation": "belonging and taking part",
}

CRISIS_TYPES: Final[dict[str, str]] = {
    "suicide": "自殺の危険",
    "violence": "暴力・生命の危険",
    "child_abuse": "子どもの虐待",
    "medical": "救急医療",
}


def is_category(code: str) -> bool:
    """True when ``code`` is one of the fixed category codes."""
    return code in CATEGORIES


def is_crisis_type(code: str) -> bool:
    """True when ``code`` is one of the fixed crisis types."""
    return code in CRISIS_TYPES
