"""The summary note against hand-written multi-need consultations.

Each consultation states its needs and household members; the note must show
every one of them, with the resident's own sentences, and nothing else.
"""

from __future__ import annotations

import datetime as dt

import pytest

import handoff
from handoff.summary import build_summary, household_members, sentences, who_is_writing
from triage.assessment import Assessment, CategoryFinding, CrisisFinding, Evidence, ServiceMatch

T0 = dt.datetime(2025, 6, 3, 1, 0, tzinfo=dt.UTC)

CASE_8050 = [
    "82歳の母と、52歳の兄の三人暮らしです。",
    "兄は無職で、もう10年以上部屋にひきこもっています。母は最近、認知症と診断されました。"
    "私は仕事があるので、昼間は誰も母を見られません。",
    "連絡は平日の夕方以降にLINEでお願いします。",
]
DOUBLE_CARE = [
    "私は40歳で、小学生の娘と3歳の息子を育てています。",
    "近くに住む義母が要介護2になり、毎日通って介護しています。夫は単身赴任です。"
    "子育てと介護が重なって、夜も眠れません。",
]
YOUNG_CARER = [
    "中学2年です。母が病気で寝たきりなので、毎朝弟のごはんを作ってから学校に行きます。",
    "弟は小学生です。遅刻が多くて、先生に怒られます。勉強についていけません。",
]


def _finding(code: str, label: str, *said: str) -> CategoryFinding:
    return CategoryFinding(
        code=code,
        label=label,
        score=0.8,
        evidence=[Evidence(sentence=s, score=0.8, matched="…", source="embedding") for s in said],
    )


def _case(messages: list[str], categories: list[CategoryFinding], **kw: object) -> handoff.Case:
    values: dict[str, object] = {
        "id": 1,
        "resident_ref": "line:U1",
        "channel": "line",
        "status": "new",
        "handled_by": "staff",
        "priority": 1,
        "urgent": False,
        "crisis_type": None,
        "complex": len(categories) >= 2,
        "categories": [c.code for c in categories],
        "assessment": Assessment(
            text="\n".join(messages),
            language="ja",
            categories=categories,
            complex=len(categories) >= 2,
            services=[
                ServiceMatch(
                    service_id="s1",
                    name="地域包括支援センター",
                    organization="ひなた市",
                    categories=["elderly_care"],
                    score=0.7,
                    reason="「介護」の相談を受けています",
                    hours="平日 8:30–17:15",
                    phone="0000-00-0000",
                )
            ],
        ),
        "consent": handoff.Consent(share_with_staff=True, share_with_agencies=False),
        "language": "ja",
        "assignee": None,
        "opened_at": T0,
        "updated_at": T0,
    }
    values.update(kw)
    return handoff.Case.model_validate(values)


def _transcript(messages: list[str]) -> list[handoff.TranscriptEntry]:
    out = [handoff.TranscriptEntry(role="resident", text="［開始］", at=T0)]
    for text in messages:
        out.append(handoff.TranscriptEntry(role="resident", text=text, at=T0))
        out.append(
            handoff.TranscriptEntry(
                role="bot", text="話してくださってありがとうございます。母", at=T0
            )
        )
    return out


CONSULTATIONS = {
    "8050": (
        CASE_8050,
        [
            _finding(
                "hikikomori", "ひきこもり", "兄は無職で、もう10年以上部屋にひきこもっています。"
            ),
            _finding("elderly_care", "高齢・介護", "母は最近、認知症と診断されました。"),
            _finding("employment", "仕事", "兄は無職で"),
        ],
        ["母82歳 認知症", "兄52歳 無職 ひきこもり"],
        "家族",
    ),
    "ダブルケア": (
        DOUBLE_CARE,
        [
            _finding(
                "elderly_care",
                "高齢・介護",
                "近くに住む義母が要介護2になり、毎日通って介護しています。",
            ),
            _finding("child_family", "子ども・子育て", "子育てと介護が重なって、夜も眠れません。"),
        ],
        ["本人40歳", "娘 小学生", "息子3歳", "義母 要介護2", "夫"],
        "家族",
    ),
    "ヤングケアラー": (
        YOUNG_CARER,
        [
            _finding(
                "child_family", "子ども・子育て", "毎朝弟のごはんを作ってから学校に行きます。"
            ),
            _finding("education", "学校・教育", "勉強についていけません。"),
            _finding("health", "健康", "母が病気で寝たきりなので"),
        ],
        ["母 寝たきり", "弟 小学生"],
        "家族",
    ),
}


@pytest.mark.parametrize("name", list(CONSULTATIONS))
def test_every_need_and_member_appears_and_nothing_else(name: str) -> None:
    messages, findings, members, writer = CONSULTATIONS[name]
    note = build_summary(_case(messages, findings), _transcript(messages))
    assert [n.code for n in note.needs] == [f.code for f in findings]
    said = set(sentences("\n".join(messages)))
    for need in note.needs:
        assert need.sentences, need.code
        assert set(need.sentences) <= said  # the resident's own, whole sentences
    assert [m.text for m in note.household] == members
    assert note.writer == writer
    assert note.complex and not note.crisis_label and not note.urgent


def test_the_8050_note_keeps_the_contact_wish_services_and_consent() -> None:
    messages, findings, _, _ = CONSULTATIONS["8050"]
    note = build_summary(_case(messages, findings), _transcript(messages))
    assert note.contact == ["連絡は平日の夕方以降にLINEでお願いします。"]
    assert [(s.name, s.hours) for s in note.services] == [
        ("地域包括支援センター", "平日 8:30–17:15")
    ]
    assert [(c.label, c.value) for c in note.consent] == [
        ("職員への共有", "同意あり"),
        ("関係機関への共有", "同意なし"),
        ("匿名での相談", "希望なし"),
        ("見守りの連絡", "未確認"),
    ]
    assert note.language_label == "日本語"
    consented = _case(messages, findings, follow_up_consent=True)
    assert build_summary(consented, _transcript(messages)).consent[-1].value == "同意あり"


@pytest.mark.parametrize(
    ("corrected", "writer", "reason_starts"),
    [
        (None, "家族", "家族（"),
        ("関係者", "関係者", "職員が訂正（自動の推定は家族"),
        ("家族", "家族", "職員が確認"),
    ],
)
def test_staff_corrections_of_who_is_writing_win_and_say_so(
    corrected: str | None, writer: str, reason_starts: str
) -> None:
    messages, findings, _, _ = CONSULTATIONS["8050"]
    note = build_summary(_case(messages, findings, writer=corrected), _transcript(messages))
    assert note.writer == writer and note.writer_reason.startswith(reason_starts)


def test_evidence_the_resident_did_not_write_is_left_out() -> None:
    messages = ["母の介護がつらいです。"]
    finding = _finding("elderly_care", "高齢・介護", "母の介護がつらいです。", "父が倒れました。")
    note = build_summary(_case(messages, [finding]), _transcript(messages))
    assert note.needs[0].sentences == ["母の介護がつらいです。"]
    # the bot's lines are not the resident's: 「母」 in a bot reply adds nobody
    assert [m.text for m in note.household] == ["母"]


def test_a_crisis_case_shows_the_flag_and_consent_not_yet_asked() -> None:
    messages = ["もう死にたい。生きていたくない。"]
    assessment = Assessment(
        text=messages[0],
        language="ja",
        crisis=CrisisFinding(type="suicide", phrases=["死にたい"], sentences=["もう死にたい。"]),
    )
    case = _case(
        messages,
        [],
        urgent=True,
        crisis_type="suicide",
        priority=0,
        assessment=assessment,
        consent=handoff.Consent(),
    )
    note = build_summary(case, _transcript(messages))
    assert note.crisis_label == "自殺・自傷の危険" and note.crisis_sentences == ["もう死にたい。"]
    assert note.consent[0].value.startswith("未確認（危機")
    assert note.needs == [] and note.household == [] and note.writer == "本人"


@pytest.mark.parametrize(
    ("text", "writer"),
    [
        ("隣の家の子どもが毎晩叩かれて泣き叫んでいる", "近隣"),
        ("民生委員をしています。担当地区の高齢の方が心配です", "関係者"),
        ("担任です。クラスの生徒が最近痩せてきて心配です", "関係者"),
        ("仕事をクビになって借金が返せません", "本人"),
        ("夫の暴力がこわいです", "家族"),
        ("大丈夫だと思っていたけど、もう限界です", "本人"),
    ],
)
def test_who_is_writing(text: str, writer: str) -> None:
    assert who_is_writing(text)[0] == writer


@pytest.mark.parametrize(
    ("text", "members"),
    [
        ("母（82）と暮らしています", ["母82歳"]),
        ("父は80代で一人暮らしです", ["父80代 一人暮らし"]),
        ("兄弟はいません。子ども食堂を探しています", []),
        ("祖母の家に住んでいます", ["祖母"]),
        ("母は認知症ではないと思います", ["母"]),
        ("無職の兄が心配です", ["兄 無職"]),
        ("長男は不登校で、次男は保育園です", ["長男 不登校", "次男"]),
        ("ＭＹ母は８２歳です", ["母82歳"]),
    ],
)
def test_household_members(text: str, members: list[str]) -> None:
    assert [m.text for m in household_members(text)] == members
