"""Every reply the bot says, per language, in one place.

Languages: ``ja`` (日本語), ``easy`` (やさしい日本語) and ``en`` (English).
Templates are plain ``str.format`` strings so a reviewer (or a translator)
reads them here and nowhere else; the conversation engine only picks keys.
Wording follows design.md §5: accept first (受け止め), never 「対象外」, say
what happens next and when.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final, Literal

from knowledge import CATEGORIES, CATEGORIES_EN

from .messages import Choice

Lang = Literal["ja", "easy", "en"]
LANGS: Final[tuple[Lang, ...]] = ("ja", "easy", "en")

CATEGORIES_EASY: Final[dict[str, str]] = {
    "elderly_care": "おとしより・かいご",
    "disability": "しょうがい",
    "child_family": "こども・こそだて",
    "poverty": "おかね・せいかつ",
    "employment": "しごと",
    "housing": "すむところ",
    "health": "こころ・からだ",
    "hikikomori": "ひきこもり・ひとり",
    "dv_abuse": "ぼうりょく・DV",
    "legal": "ほうりつ・しゃっきん",
    "education": "がっこう",
    "foreign_resident": "がいこくの ひと",
    "living_environment": "いえの まわり",
    "participation": "いばしょ・なかま",
}

#: Short button labels (≤ 20 chars) for the categories offered as buttons.
CATEGORY_BUTTONS: Final[tuple[str, ...]] = (
    "elderly_care",
    "child_family",
    "poverty",
    "employment",
    "housing",
    "health",
    "hikikomori",
    "dv_abuse",
    "disability",
)


def category_label(code: str, lang: Lang) -> str:
    """The category's name in the resident's language."""
    table = {"ja": CATEGORIES, "easy": CATEGORIES_EASY, "en": CATEGORIES_EN}[lang]
    return table.get(code, code)


# -- emergency lines ------------------------------------------------------


@dataclass(frozen=True)
class Hotline:
    """A national line the bot gives in a crisis or outside office hours."""

    names: dict[str, str]
    number: str
    always_open: bool

    def line(self, lang: Lang) -> str:
        name = self.names[lang]
        note = {"ja": "（24時間）", "easy": "（24じかん）", "en": " (24 hours)"}[lang]
        bullet = "- " if lang == "en" else "・"
        return f"{bullet}{name}: {self.number}{note if self.always_open else ''}"


HOTLINES: Final[dict[str, Hotline]] = {
    "inochi": Hotline(
        {
            "ja": "いのちの電話",
            "easy": "いのちの でんわ",
            "en": "Inochi no Denwa (suicide prevention)",
        },
        "0570-783-556",
        False,
    ),
    "yorisoi": Hotline(
        {"ja": "よりそいホットライン", "easy": "よりそい ホットライン", "en": "Yorisoi Hotline"},
        "0120-279-338",
        True,
    ),
    "kokoro": Hotline(
        {
            "ja": "こころの健康相談統一ダイヤル",
            "easy": "こころの そうだん でんわ",
            "en": "Mental health counselling line",
        },
        "0570-064-556",
        False,
    ),
    "police": Hotline({"ja": "警察", "easy": "けいさつ", "en": "Police"}, "110", True),
    "ambulance": Hotline(
        {"ja": "救急車", "easy": "きゅうきゅうしゃ", "en": "Ambulance"}, "119", True
    ),
    "dv_plus": Hotline(
        {
            "ja": "DV相談＋（プラス）",
            "easy": "DV そうだん プラス",
            "en": "DV Soudan Plus (partner violence)",
        },
        "0120-279-889",
        True,
    ),
    "dv_navi": Hotline(
        {"ja": "DV相談ナビ", "easy": "DV そうだん ナビ", "en": "DV consultation navigator"},
        "#8008",
        False,
    ),
    "jido": Hotline(
        {
            "ja": "児童相談所 虐待対応ダイヤル",
            "easy": "じどう そうだんじょ",
            "en": "Child abuse hotline (child guidance centre)",
        },
        "189",
        True,
    ),
    "kyukyu_advice": Hotline(
        {
            "ja": "救急安心センター（救急車を呼ぶか迷うとき）",
            "easy": "きゅうきゅう そうだん（きゅうきゅうしゃを よぶか まようとき）",
            "en": "Emergency advice line (unsure whether to call an ambulance)",
        },
        "#7119",
        False,
    ),
}

#: The lines that fit each crisis type, most direct first.
CRISIS_LINES: Final[dict[str, tuple[str, ...]]] = {
    "suicide": ("inochi", "yorisoi", "kokoro"),
    "violence": ("police", "dv_plus", "dv_navi"),
    "child_abuse": ("jido", "police"),
    "medical": ("ambulance", "kyukyu_advice"),
}

#: Always open: given outside office hours so nobody waits alone.
NIGHT_LINES: Final[tuple[str, ...]] = ("yorisoi",)


def hotline_lines(keys: tuple[str, ...], lang: Lang) -> str:
    return "\n".join(HOTLINES[k].line(lang) for k in keys)


# -- postback data (what buttons send back) --------------------------------

DATA_HANDOFF: Final = "handoff"  # offer → consent questions → case
DATA_TALK: Final = "talk"  # "talk to a person": a case at once
DATA_MORE: Final = "more"
DATA_DONE: Final = "done"
DATA_STAFF_YES: Final = "consent:staff:yes"
DATA_STAFF_ANON: Final = "consent:staff:anon"
DATA_STAFF_NO: Final = "consent:staff:no"
DATA_AGENCIES_YES: Final = "consent:agencies:yes"
DATA_AGENCIES_NO: Final = "consent:agencies:no"
DATA_CATEGORY_PREFIX: Final = "cat:"
DATA_LANG_PREFIX: Final = "lang:"


# -- templates -------------------------------------------------------------

T: Final[dict[str, dict[str, str]]] = {
    "ja": {
        "greeting": (
            "こんにちは。くらしの困りごとの相談窓口「つなぐ」です。\n"
            "介護、子育て、お金、仕事、住まい、心や体のこと、家族のこと、だれに相談したらよいか"
            "わからないことも、どんなことでも書いてください。"
            "一緒に考えて、合う窓口や担当者におつなぎします。名前を書かなくても大丈夫です。"
        ),
        "accept": "話してくださって、ありがとうございます。",
        "accept_more": "教えてくださって、ありがとうございます。",
        "reflect_one": "「{needs}」のことで、困っていらっしゃるのですね。",
        "reflect_many": "「{needs}」のことが重なっていて、大変でしたね。",
        "reflect_complex": "いくつかのことが一緒に起きているときは、まとめて相談できます。",
        "risk_concern": (
            "つらい気持ちも書いてくださいましたね。ひとりで抱えなくて大丈夫です。"
            "気持ちを聞いてほしいときは、24時間の電話もあります。\n{lines}"
        ),
        "offer_intro": "次のような窓口があります。",
        "offer_none": "ぴったりの窓口は担当者が一緒に探します。",
        "service": "・{name}（{org}）\n　{reason}",
        "service_hours": "　受付: {hours}",
        "service_phone": "　電話: {phone}",
        "offer_next": (
            "担当者が、あなたに合う支援を一緒に考えます。担当者につなぎましょうか？"
            "ほかにも話したいことがあれば、そのまま書いてください。"
        ),
        "vague": (
            "よければ、どんなことで困っているか、もう少し教えてください。"
            "たとえば、だれのことか、いつからか、いちばん心配なことは何か、など。"
            "下のボタンから選んでも大丈夫です。"
        ),
        "category_picked": "「{label}」のことですね。よければ、今の様子も少し教えてください。",
        "more": "はい、どうぞ。思いつくまま書いてください。",
        "done": ("今日は話してくださって、ありがとうございました。また、いつでも書いてください。"),
        "consent_staff": (
            "担当者に、ここで話してくださった内容を伝えてもよいですか？"
            "名前を出さずに相談することもできます。"
        ),
        "consent_agencies": (
            "必要なときは、関係する窓口にも伝えてよいですか？"
            "伝える前に担当者から確認することもできます。あとで変えることもできます。"
        ),
        "consent_unclear": "すみません、「はい」か「いいえ」で教えてください。ボタンを押しても大丈夫です。",
        "consent_declined": (
            "わかりました。ここでのお話は、だれにも伝えません。"
            "上の窓口に直接連絡することもできます。"
            "気持ちが変わったら、いつでも「担当者と話したい」と書いてください。"
        ),
        "handoff_done": "ありがとうございます。担当者におつなぎしました。",
        "handoff_requested": "わかりました。担当者におつなぎします。",
        "handoff_agencies_later": "ほかの窓口に伝えるときは、先にあなたに確認します。",
        "next_in_hours": "担当者が{minutes}分以内に、ここで連絡します。",
        "next_out_of_hours": (
            "今は受付時間外です（受付: {office_hours}）。"
            "担当者は{next_open}から、ここでメッセージを読んで連絡します。"
        ),
        "night_lines": "急いで話したいときは、24時間の電話もあります。\n{lines}\n命の危険があるときは 110 か 119 へ。",
        "crisis_suicide": (
            "書いてくださって、ありがとうございます。あなたのことが、とても心配です。"
            "ひとりで抱えないでください。いま話せる電話があります。\n{lines}\n"
            "いま命の危険があるときは、すぐに 119 に電話してください。"
        ),
        "crisis_violence": (
            "書いてくださって、ありがとうございます。あなたの安全がいちばん大切です。"
            "いま危ないときは、すぐに 110 に電話してください。\n{lines}"
        ),
        "crisis_child_abuse": (
            "書いてくださって、ありがとうございます。お子さんの安全がいちばん大切です。"
            "いま危ないときは、すぐに電話してください。\n{lines}"
        ),
        "crisis_medical": (
            "すぐに手当てが必要かもしれません。いま具合が悪いときは、すぐに 119 に電話してください。\n"
            "{lines}"
        ),
        "crisis_person_in_hours": "担当者が、このあとすぐ、ここであなたに連絡します。",
        "crisis_person_out_of_hours": (
            "担当者が{next_open}に、ここであなたに連絡します。"
            "それまでの間も、上の電話はいつでも使えます。"
        ),
        "crisis_person_handed_off": "担当者にも、すぐに伝えました。このあと、ここで連絡します。",
        "non_text": (
            "ありがとうございます。ごめんなさい、ここでは文字のメッセージだけ読めます。"
            "困っていることを、ことばで教えてください。"
        ),
        "empty": "メッセージが空のようです。困っていることを、ひとことでも書いてください。",
        "too_long": "長いメッセージをありがとうございます。全部、担当者にも伝えられます。",
        "lang_set": "日本語でお話しします。どんなことでも書いてください。",
        "handed_back": "担当者から、自動の案内に戻りました。ほかにも困っていることがあれば、いつでも書いてください。",
        "follow_up": (
            "こんにちは。「つなぐ」の担当者です。その後、お変わりはありませんか。"
            "困っていることや話したいことがあれば、いつでもここに書いてください。"
            "特になければ、返信しなくても大丈夫です。"
        ),
        "follow_up_note": "担当者から：{message}",
        "sorry_error": (
            "ごめんなさい、メッセージをうまく受け取れませんでした。"
            "もう一度送ってください。急ぐときは 110 か 119 へ。"
        ),
        "btn_handoff": "担当者につなぐ",
        "btn_more": "もう少し話す",
        "btn_done": "今日はここまで",
        "btn_staff_yes": "伝えてよい",
        "btn_staff_anon": "名前を出さずに",
        "btn_staff_no": "伝えない",
        "btn_agencies_yes": "はい",
        "btn_agencies_no": "担当者だけ",
        "btn_talk": "担当者と話す",
        "weekday_names": "月,火,水,木,金,土,日",
        "date": "{month}月{day}日（{weekday}）{time}",
        "today": "今日の{time}",
        "tomorrow": "明日（{weekday}）の{time}",
        "office_hours": "{days} {open}〜{close}",
    },
    "easy": {
        "greeting": (
            "こんにちは。こまった ことの そうだんまどぐち「つなぐ」です。\n"
            "どんな ことでも かいて ください。いっしょに かんがえます。"
            "なまえを かかなくても だいじょうぶです。"
        ),
        "accept": "はなして くれて、ありがとう ございます。",
        "accept_more": "おしえて くれて、ありがとう ございます。",
        "reflect_one": "「{needs}」の ことで こまって いるのですね。",
        "reflect_many": "「{needs}」の ことで こまって いるのですね。たいへんでしたね。",
        "reflect_complex": "いくつかの ことを いっしょに そうだん できます。",
        "risk_concern": (
            "つらい きもちも かいて くれましたね。ひとりで がまんしなくて だいじょうぶです。"
            "24じかん はなせる でんわも あります。\n{lines}"
        ),
        "offer_intro": "つぎの まどぐちが あります。",
        "offer_none": "あなたに あう まどぐちは、たんとうの ひとが いっしょに さがします。",
        "service": "・{name}（{org}）\n　{reason}",
        "service_hours": "　じかん: {hours}",
        "service_phone": "　でんわ: {phone}",
        "offer_next": (
            "たんとうの ひとが、いっしょに かんがえます。たんとうの ひとに つなぎますか？"
            "ほかにも はなしたい ことが あれば、かいて ください。"
        ),
        "vague": (
            "どんな ことで こまって いますか。すこし おしえて ください。"
            "したの ボタンを おしても だいじょうぶです。"
        ),
        "category_picked": "「{label}」の ことですね。いまの ようすを すこし おしえて ください。",
        "more": "はい。どうぞ かいて ください。",
        "done": "はなして くれて、ありがとう ございました。また いつでも かいて ください。",
        "consent_staff": (
            "ここで はなした ことを、たんとうの ひとに つたえても いいですか？"
            "なまえを いわないで そうだん することも できます。"
        ),
        "consent_agencies": (
            "ひつような とき、ほかの まどぐちにも つたえて いいですか？"
            "あとで かえる ことも できます。"
        ),
        "consent_unclear": "「はい」か「いいえ」で おしえて ください。ボタンを おしても いいです。",
        "consent_declined": (
            "わかりました。だれにも つたえません。"
            "まどぐちに じぶんで でんわする ことも できます。"
            "いつでも「たんとうの ひとと はなしたい」と かいて ください。"
        ),
        "handoff_done": "ありがとう ございます。たんとうの ひとに つなぎました。",
        "handoff_requested": "わかりました。たんとうの ひとに つなぎます。",
        "handoff_agencies_later": "ほかの まどぐちに つたえる ときは、さきに あなたに ききます。",
        "next_in_hours": "たんとうの ひとが {minutes}ぷん いないに、ここで れんらく します。",
        "next_out_of_hours": (
            "いまは うけつけ じかんでは ありません（うけつけ: {office_hours}）。"
            "たんとうの ひとは {next_open}から よんで、れんらく します。"
        ),
        "night_lines": (
            "いそぐ ときは、24じかんの でんわも あります。\n{lines}\n"
            "いのちが あぶない ときは 110 か 119 に でんわして ください。"
        ),
        "crisis_suicide": (
            "かいて くれて、ありがとう ございます。あなたの ことが とても しんぱいです。"
            "ひとりで がまんしないで ください。いま はなせる でんわが あります。\n{lines}\n"
            "いのちが あぶない ときは、すぐ 119 に でんわして ください。"
        ),
        "crisis_violence": (
            "かいて くれて、ありがとう ございます。あなたが あんぜんで いる ことが いちばん だいじです。"
            "いま あぶない ときは、すぐ 110 に でんわして ください。\n{lines}"
        ),
        "crisis_child_abuse": (
            "かいて くれて、ありがとう ございます。こどもが あんぜんで いる ことが いちばん だいじです。"
            "いま あぶない ときは、すぐ でんわして ください。\n{lines}"
        ),
        "crisis_medical": (
            "すぐ てあてが ひつようかも しれません。ぐあいが わるい ときは、すぐ 119 に でんわして ください。\n"
            "{lines}"
        ),
        "crisis_person_in_hours": "たんとうの ひとが、すぐ ここで れんらく します。",
        "crisis_person_out_of_hours": (
            "たんとうの ひとが {next_open}に、ここで れんらく します。"
            "それまでも、うえの でんわは つかえます。"
        ),
        "crisis_person_handed_off": "たんとうの ひとにも すぐ つたえました。ここで れんらく します。",
        "non_text": (
            "ありがとう ございます。ここでは もじの メッセージだけ よめます。"
            "こまって いる ことを、ことばで おしえて ください。"
        ),
        "empty": "メッセージが ありません。こまって いる ことを かいて ください。",
        "too_long": "ながい メッセージを ありがとう ございます。ぜんぶ たんとうの ひとにも つたえられます。",
        "lang_set": "やさしい にほんごで はなします。どんな ことでも かいて ください。",
        "handed_back": "じどうの あんないに もどりました。こまって いる ことが あれば、かいて ください。",
        "follow_up": (
            "こんにちは。「つなぐ」の たんとうの ひとです。そのあと、どう ですか。"
            "こまって いる ことや はなしたい ことが あれば、いつでも ここに かいて ください。"
            "なにも なければ、へんじ しなくても だいじょうぶです。"
        ),
        "follow_up_note": "たんとうの ひとから：{message}",
        "sorry_error": (
            "ごめんなさい。メッセージを うまく うけとれませんでした。もう いちど おくって ください。"
            "いそぐ ときは 110 か 119 へ。"
        ),
        "btn_handoff": "たんとうの ひとに つなぐ",
        "btn_more": "もっと はなす",
        "btn_done": "きょうは おわり",
        "btn_staff_yes": "はい",
        "btn_staff_anon": "なまえを いわないで",
        "btn_staff_no": "いいえ",
        "btn_agencies_yes": "はい",
        "btn_agencies_no": "たんとうの ひとだけ",
        "btn_talk": "たんとうの ひとと はなす",
        "weekday_names": "げつ,か,すい,もく,きん,ど,にち",
        "date": "{month}がつ{day}にち（{weekday}ようび）{time}",
        "today": "きょうの {time}",
        "tomorrow": "あした（{weekday}ようび）の {time}",
        "office_hours": "{days} {open}〜{close}",
    },
    "en": {
        "greeting": (
            "Hello. This is Tsunagu, the city's help desk for any worry in daily life: care for a "
            "parent, children, money, work, housing, health, family, or something you are not "
            "sure whom to ask about. Write anything here. We will think it through with you and "
            "connect you to the right people. You do not need to give your name."
        ),
        "accept": "Thank you for telling us.",
        "accept_more": "Thank you for telling us more.",
        "reflect_one": "It sounds like you are worried about {needs}.",
        "reflect_many": "It sounds like several things are weighing on you: {needs}. That is a lot.",
        "reflect_complex": "You can talk about all of them together with one person.",
        "risk_concern": (
            "You also wrote about feeling low. You do not have to carry this alone. "
            "There are lines you can call any time.\n{lines}"
        ),
        "offer_intro": "These services may help:",
        "offer_none": "A staff member will look for the right service with you.",
        "service": "- {name} ({org})\n  {reason}",
        "service_hours": "  Hours: {hours}",
        "service_phone": "  Phone: {phone}",
        "offer_next": (
            "A staff member can work out the right support with you. Shall we connect you? "
            "If there is more you want to say, just write it."
        ),
        "vague": (
            "If you like, tell us a little more about what is troubling you: who it is about, "
            "since when, what worries you most. You can also pick a topic below."
        ),
        "category_picked": "About {label}. If you can, tell us a little about how things are now.",
        "more": "Of course. Write whatever comes to mind.",
        "done": "Thank you for writing today. You can write again any time.",
        "consent_staff": (
            "May we share what you wrote here with a staff member? "
            "You can also consult without giving your name."
        ),
        "consent_agencies": (
            "If needed, may we also share it with the agencies that can help? "
            "You can change this later."
        ),
        "consent_unclear": "Sorry, please answer yes or no. You can also press a button.",
        "consent_declined": (
            "Understood. We will not share what you wrote with anyone. You can contact the "
            'services above directly. If you change your mind, write "talk to a person" any time.'
        ),
        "handoff_done": "Thank you. We have passed this to a staff member.",
        "handoff_requested": "Of course. We are connecting you to a staff member.",
        "handoff_agencies_later": "We will ask you before sharing anything with other agencies.",
        "next_in_hours": "A staff member will contact you here within {minutes} minutes.",
        "next_out_of_hours": (
            "The office is closed now (open {office_hours}). A staff member will read your "
            "messages from {next_open} and contact you here."
        ),
        "night_lines": (
            "If you need to talk sooner, these lines are open day and night:\n{lines}\n"
            "If a life is in danger, call 110 or 119."
        ),
        "crisis_suicide": (
            "Thank you for telling us. We are worried about you. Please do not stay alone with "
            "this. You can talk to someone now:\n{lines}\n"
            "If your life is in danger right now, call 119 immediately."
        ),
        "crisis_violence": (
            "Thank you for telling us. Your safety comes first. If you are in danger now, call "
            "110 immediately.\n{lines}"
        ),
        "crisis_child_abuse": (
            "Thank you for telling us. The child's safety comes first. If a child is in danger "
            "now, call immediately:\n{lines}"
        ),
        "crisis_medical": (
            "You may need help right away. If someone is unwell now, call 119 immediately.\n{lines}"
        ),
        "crisis_person_in_hours": "A staff member will contact you here very soon.",
        "crisis_person_out_of_hours": (
            "A staff member will contact you here at {next_open}. Until then, the lines above "
            "are there for you."
        ),
        "crisis_person_handed_off": "We have told your staff member at once; they will contact you here.",
        "non_text": (
            "Thank you. Sorry, we can only read text messages here. "
            "Please tell us in words what is troubling you."
        ),
        "empty": "Your message seems to be empty. Please write a word or two about what is troubling you.",
        "too_long": "Thank you for your long message. All of it can be passed to a staff member.",
        "lang_set": "I will reply in English. Write about anything that is troubling you.",
        "handed_back": "You are back with the automatic guide. Write any time if something else is troubling you.",
        "follow_up": (
            "Hello, this is your staff member at tsunagu. We wanted to check in: how are things? "
            "If anything is troubling you or you would like to talk, just write here any time. "
            "If all is well, there is no need to reply."
        ),
        "follow_up_note": "From your staff member: {message}",
        "sorry_error": (
            "Sorry, we could not read your message. Please send it again. "
            "In an emergency call 110 or 119."
        ),
        "btn_handoff": "Talk to a person",
        "btn_more": "Tell you more",
        "btn_done": "That's all for now",
        "btn_staff_yes": "Yes, share",
        "btn_staff_anon": "Share anonymously",
        "btn_staff_no": "Don't share",
        "btn_agencies_yes": "Yes",
        "btn_agencies_no": "Staff only",
        "btn_talk": "Talk to a person",
        "weekday_names": "Mon,Tue,Wed,Thu,Fri,Sat,Sun",
        "date": "{weekday} {day} {month_name}, {time}",
        "today": "today at {time}",
        "tomorrow": "tomorrow ({weekday}) at {time}",
        "office_hours": "{days} {open}–{close}",
    },
}

_MONTHS_EN: Final = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()  # noqa: SIM905
_LANG_BUTTONS: Final[dict[Lang, str]] = {"ja": "日本語", "easy": "やさしい日本語", "en": "English"}


def text(lang: Lang, key: str, **values: object) -> str:
    """One template, filled in."""
    return T[lang][key].format(**values)


def cat(lang: Lang, *sentences: str) -> str:
    """Sentences run together: no space in Japanese, one space in English."""
    return ("" if lang != "en" else " ").join(s for s in sentences if s)


def button(lang: Lang, key: str, data: str) -> Choice:
    return Choice(T[lang][key], data)


def language_buttons(current: Lang) -> tuple[Choice, ...]:
    """Buttons to switch to the other languages."""
    return tuple(
        Choice(label, DATA_LANG_PREFIX + code)
        for code, label in _LANG_BUTTONS.items()
        if code != current
    )


def category_buttons(lang: Lang) -> tuple[Choice, ...]:
    """Topic buttons for a vague message, then a person, then the languages."""
    cats = tuple(
        Choice(category_label(code, lang)[:20], DATA_CATEGORY_PREFIX + code)
        for code in CATEGORY_BUTTONS
    )
    return (*cats, button(lang, "btn_talk", DATA_TALK), *language_buttons(lang))


def offer_buttons(lang: Lang) -> tuple[Choice, ...]:
    return (
        button(lang, "btn_handoff", DATA_HANDOFF),
        button(lang, "btn_more", DATA_MORE),
        button(lang, "btn_done", DATA_DONE),
    )


def consent_staff_buttons(lang: Lang) -> tuple[Choice, ...]:
    return (
        button(lang, "btn_staff_yes", DATA_STAFF_YES),
        button(lang, "btn_staff_anon", DATA_STAFF_ANON),
        button(lang, "btn_staff_no", DATA_STAFF_NO),
    )


def consent_agencies_buttons(lang: Lang) -> tuple[Choice, ...]:
    return (
        button(lang, "btn_agencies_yes", DATA_AGENCIES_YES),
        button(lang, "btn_agencies_no", DATA_AGENCIES_NO),
    )


def weekday_name(lang: Lang, weekday: int) -> str:
    return T[lang]["weekday_names"].split(",")[weekday]


def when_text(lang: Lang, when: dt.datetime, now: dt.datetime) -> str:
    """A local time in words: 「今日の8:30」, 「明日（火）の8:30」 or a date."""
    time = f"{when.hour}:{when:%M}"
    weekday = weekday_name(lang, when.weekday())
    days = (when.date() - now.date()).days
    if days == 0:
        return text(lang, "today", time=time)
    if days == 1:
        return text(lang, "tomorrow", weekday=weekday, time=time)
    return text(
        lang,
        "date",
        month=when.month,
        month_name=_MONTHS_EN[when.month - 1],
        day=when.day,
        weekday=weekday,
        time=time,
    )


def office_hours_text(lang: Lang, days: list[int], opens: str, closes: str) -> str:
    """Office hours in words, e.g. 「月〜金 8:30〜17:15」."""
    names = [weekday_name(lang, d) for d in sorted(days)]
    if len(days) > 2 and sorted(days) == list(range(min(days), max(days) + 1)):
        sep = "〜" if lang != "en" else "–"
        label = f"{names[0]}{sep}{names[-1]}"
    else:
        label = "・".join(names) if lang != "en" else ", ".join(names)
    return text(lang, "office_hours", days=label, open=opens.lstrip("0"), close=closes.lstrip("0"))
