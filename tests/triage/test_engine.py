"""assess() end to end on the sample KB: every need, crisis first, services with reasons."""

from __future__ import annotations

import pytest

from triage import Triage


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 8050: an old parent's care, a middle-aged son at home for years, money running out
        (
            "83歳の父がもの忘れがひどくなり、夜中に家を出ていこうとします。"
            "同居している兄は50代で、もう10年以上部屋から出てきません。"
            "父の年金だけでは生活費が足りず、家賃も2か月払えていません。",
            {"elderly_care", "hikikomori", "poverty"},
        ),
        # ダブルケア: a newborn and a mother who needs care
        (
            "生後3か月の赤ちゃんの育児をしながら、要介護2の母の介護もしています。"
            "夜も眠れず、もう体も心も限界です。",
            {"child_family", "elderly_care"},
        ),
        # debt and divorce
        ("夫と離婚の話し合い中です。夫が作った借金の取り立てが私のところにも来ます。", {"legal"}),
    ],
    ids=["8050", "double-care", "legal"],
)
def test_every_need_in_the_household_is_found(
    sample_engine: Triage, text: str, expected: set[str]
) -> None:
    a = sample_engine.assess(text)
    assert expected <= set(a.codes), a.codes
    assert a.complex is (len(a.codes) >= 2)
    for finding in a.categories:
        assert finding.evidence, finding.code
        assert all(e.sentence in a.text for e in finding.evidence)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # rule 6: a foreign resident's message carries the real need as well
        (
            "My visa runs out soon because the factory closed. I need a new job quickly.",
            {"foreign_resident", "employment"},
        ),
        # rule 5: children present during partner violence
        (
            "夫が酔うと怒鳴って殴ってきます。子どもを連れて家を出たいです。",
            {"dv_abuse", "child_family"},
        ),
        # an older person's home in disorder: the elderly watch joins the home's trouble
        (
            "近所に住む80代の男性の家が、ごみであふれて悪臭がしています。",
            {"living_environment", "elderly_care"},
        ),
    ],
    ids=["foreign-resident", "dv-children", "elderly-hoarding"],
)
def test_labelling_rules_add_household_fields(
    sample_engine: Triage, text: str, expected: set[str]
) -> None:
    a = sample_engine.assess(text)
    assert expected <= set(a.codes), a.codes
    assert a.complex


@pytest.mark.parametrize(
    ("text", "need", "not_a_need"),
    [
        # a worry about the future (eval README rule 1)
        (
            "小5の娘がいじめで学校に行けなくなりました。このまま引きこもりになったらと心配です。",
            "education",
            "hikikomori",
        ),
        # a past hospital stay is a background fact
        ("昨年の夏に手術で入院したときの医療費が、まだ払えていません。", "poverty", "health"),
        # a joke is not a health need
        ("残業続きで死ぬほど疲れてるw 有給休暇ってどうやったら取れるの？", "employment", "health"),
        # the writer's own role is not the need
        (
            "小学校の教員です。クラスの子の家庭が食べるものにも困っているようで、どこにつなげばいいですか。",
            "poverty",
            "education",
        ),
    ],
    ids=["future-worry", "past-stay", "joke", "writer-role"],
)
def test_background_facts_add_no_field(
    sample_engine: Triage, text: str, need: str, not_a_need: str
) -> None:
    codes = sample_engine.assess(text).codes
    assert need in codes and not_a_need not in codes, codes


def test_services_come_with_reasons_and_hours(sample_engine: Triage) -> None:
    a = sample_engine.assess("家賃を3か月滞納していて、来月には部屋を出ないといけません。")
    assert a.services
    for s in a.services:
        assert s.reason and s.name and s.organization
        assert set(s.categories) & set(a.codes)
    assert any(s.hours for s in a.services)


@pytest.mark.parametrize(
    ("text", "crisis_type", "primary"),
    [
        (
            "もう生きていたくない。今夜、ためておいた薬を全部飲んで終わりにします。",
            "suicide",
            "health",
        ),
        (
            "父が急に倒れて、呼びかけても返事がなく、いびきのような息をしています。",
            "medical",
            "health",
        ),
        ("I can't go on anymore. I'm going to kill myself tonight.", "suicide", "health"),
    ],
)
def test_crisis_comes_first_with_its_lines(
    sample_engine: Triage, text: str, crisis_type: str, primary: str
) -> None:
    a = sample_engine.assess(text)
    assert a.crisis is not None and a.crisis.type == crisis_type
    assert a.primary == primary
    assert a.services and crisis_type in _crisis_types(sample_engine, a.services[0].service_id)


def _crisis_types(engine: Triage, service_id: str) -> list[str]:
    return engine.store.service(service_id).crisis_types


@pytest.mark.parametrize(
    "text",
    [
        "仕事が死ぬほど忙しくて、子どもの保育園のお迎えに間に合いません。",
        "借金で首が回らない状態です。",
    ],
)
def test_everyday_exaggeration_is_not_a_crisis(sample_engine: Triage, text: str) -> None:
    assert sample_engine.assess(text).crisis is None


@pytest.mark.parametrize("text", ["", "   \n\t ", "\x00\x00", "🙂🙂🙂", "。。。"])
def test_empty_or_wordless_messages_are_vague_not_errors(sample_engine: Triage, text: str) -> None:
    a = sample_engine.assess(text)
    assert a.crisis is None
    assert a.vague or not a.categories


def test_a_very_long_message_is_assessed(sample_engine: Triage) -> None:
    text = ("家賃が払えず困っています。" * 800)[:10_000]
    a = sample_engine.assess(text)
    assert a.primary == "poverty"
    assert len(a.text) <= 4000


def test_vague_message_says_so(sample_engine: Triage) -> None:
    a = sample_engine.assess("ちょっと相談したいことがあるんですが")
    assert a.vague
    assert len(a.categories) <= 1


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("I lost my job and I can't pay the rent next month.", "en"),
        ("Tôi bị mất việc và không có tiền trả tiền nhà.", "vi"),
        ("Perdi o emprego e não consigo pagar o aluguel.", "pt"),
    ],
)
def test_other_languages_are_matched_and_marked_foreign_resident(
    sample_engine: Triage, text: str, language: str
) -> None:
    a = sample_engine.assess(text)
    assert a.language == language
    assert "foreign_resident" in a.codes
    assert {"poverty", "employment", "housing"} & set(a.codes)


def test_assessment_serialises_to_json(sample_engine: Triage) -> None:
    a = sample_engine.assess("母の介護で仕事を辞めました。")
    again = type(a).model_validate_json(a.model_dump_json())
    assert again == a


def test_a_crisis_at_the_end_of_a_long_message_is_not_missed(sample_engine: Triage) -> None:
    text = "近所の公園の話です。" * 700 + "でももう限界で、今夜ためておいた薬を全部飲んで死にます。"
    assert len(text) > 7000
    a = sample_engine.assess(text)
    assert a.crisis is not None and a.crisis.type == "suicide"
