"""A curated lexicon of words that show a need in each field.

Embeddings find paraphrases; words find the facts residents state plainly
(認知症, 家賃, 不登校). The engine fuses both. Entries are general domain
vocabulary — never phrases lifted from any evaluation message.

Weights: 1.0 the word alone shows the need; 0.6 usually does; 0.3 a hint.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

_RAW: dict[str, list[tuple[str, float]]] = {
    "elderly_care": [
        (r"認知症|にんちしょう|ボケ(て|が)|物忘れ|もの忘れ|徘徊|はいかい", 1.0),
        (
            r"介護(保険|認定|サービス|施設|疲れ|離職|が必要|が大変|してい|の負担)|要介護|要支援|ケアマネ|デイサービス|ショートステイ|特養|老人ホーム|ヘルパー",
            1.0,
        ),
        (r"介護", 0.6),
        (r"地域包括|包括支援センター", 1.0),
        (
            r"高齢の?(母|父|親|両親|夫|妻|祖母|祖父|方|者)|年老いた|老老介護|(8|9)0(代|歳)の?(母|父|親|祖母|祖父)|祖母|祖父|おばあちゃん|おじいちゃん|ばあちゃん|じいちゃん",
            0.6,
        ),
        (r"寝たきり|足腰が(弱|悪)|転倒|一人暮らしの(母|父|親)|独居(の|高齢)", 0.6),
        # an older person by age: 母(78), 80代の男性, 70代女性
        (
            r"(母|父|親|祖母|祖父|義母|義父|おかん|おとん|おふくろ|親父)\s*\(\s*(6[5-9]|[7-9]\d|1[01]\d)\s*(歳|才)?\s*\)|"
            r"[7-9]0(代|歳代)(後半|前半)?の?(男性|女性|方|かた|人|おじいさん|おばあさん|夫婦|ご夫婦)",
            0.6,
        ),
        (
            r"elderly|dementia|my (old|aged|elderly) (mother|father|parent)s?|nursing care|care home",
            0.8,
        ),
        (r"老人|年寄り|お年寄り", 0.4),
    ],
    "disability": [
        (
            r"障(害|がい|碍)(者|児)?(手帳|年金|福祉|サービス|支援)?|障害のある|発達障|自閉|ADHD|アスペルガー|知的障|精神障|身体障|"
            r"ダウン症|脳性(麻痺|まひ)|高次脳機能|学習障|知的(な)?遅れ|療育",
            1.0,
        ),
        (
            r"療育手帳|精神保健福祉手帳|身体障害者手帳|手帳(を|の)(取|申請)|障害年金|就労継続支援|就労移行|B型|A型作業所|作業所|グループホーム|放課後等デイ",
            1.0,
        ),
        (
            r"車いす|車椅子|視覚障|聴覚障|耳が聞こえ|目が見えな|全盲|弱視|盲(?:目|導|学校|ろう)|ろう者|難聴|医療的ケア|重度",
            0.7,
        ),
        (r"親亡き後|親なき後|親が(死|亡くな)ん?だ後", 1.0),
        (r"disabilit|autis|wheelchair|special needs", 0.8),
    ],
    "child_family": [
        (
            r"妊娠|にんしん|妊婦|出産|産後|産前|つわり|母子手帳|赤ちゃん|乳児|新生児|育児|子育て|こそだて|保育(園|所)|幼稚園|待機児童|イヤイヤ期|夜泣き",
            1.0,
        ),
        (
            r"ひとり親|シングルマザー|シングルファ(ー)?ザー|母子家庭|父子家庭|養育費|児童扶養手当",
            1.0,
        ),
        (r"ヤングケアラー|young carer", 1.0),
        (
            r"(子ども|子供|こども|息子|娘|孫)を?(叩|たた|殴|怒鳴)|虐待|ぎゃくたい|育児放棄|ネグレクト|手を上げ(て|そう)|児童相談所|児相",
            0.8,
        ),
        (r"(子ども|子供|こども|幼い|小さい子|わが子|我が子)", 0.3),
        (r"孫(を|の)(育て|面倒|世話)|孫育て", 1.0),
        (
            r"아이|아기|자녀|딸|아들|육아|孩子|宝宝|女儿|儿子|育儿|con tôi|con gái|con trai|nuôi con|meu filho|minha filha|"
            r"grávida|gravidez|anak saya|hamil|buntis|anak ko|bachha|chhora|chhori|garbhawati|mang thai|임신|怀孕",
            0.6,
        ),
        (r"pregnan|baby|childcare|daycare|single (mother|father|parent)|parenting", 0.8),
    ],
    "poverty": [
        (
            r"お金が(ない|無い|なく|足りな)|お金に(困|こま)|生活費|生活(が|の)(苦し|困窮|できな)|生活保護|困窮|貧困|家計|赤字|貯金(が|も)(ない|尽き|底)|所持金|食費",
            1.0,
        ),
        (
            r"家賃(が|を|も)?.{0,6}?(払え|はらえ|払って(い)?な|滞納|ため|溜め|遅れ|待って)|滞納|払え(な|ず|ません|てい(な|ま))|支払いが(でき|遅)|督促",
            1.0,
        ),
        (r"(電気|ガス|水道|ライフライン|携帯)(が|を|も)?(止ま|とま|止め)|料金(が|を)?払え", 1.0),
        (
            r"食べ(る)?物が(ない|無い)|食べるものが|ご飯が食べ|(1|一)日(1|一)食|食料|フードバンク|米(が|も)ない|お腹(が)?すい",
            1.0,
        ),
        (
            r"収入(が|も)?(ない|減|なく|少な|途絶)|給料(が)?(減|下が|未払)|仕送り(が)?止|年金だけ|手取り",
            0.8,
        ),
        (r"(緊急|生活福祉|つなぎ)?(資金|貸付)|給付金|住居確保給付金", 0.6),
        (
            r"can't (pay|afford)|no money|rent|electricity|gas (was|is|got)? ?cut|food bank|not enough food",
            0.8,
        ),
        (
            r"sem dinheiro|não (tenho|consigo) pagar|aluguel|không có tiền|tiền nhà|walang pera|upa sa bahay|"
            r"tidak punya uang|uang sewa|没有钱|房租|交不起|돈이 없|월세|집세|생활비",
            0.9,
        ),
    ],
    "employment": [
        (
            r"仕事(を|も)?(探|さが)|職(を|も)?探|求職|就職|就活|転職|再就職|ハローワーク|ハロワ|職業訓練|面接に(落ち|受から)",
            1.0,
        ),
        (
            r"失業|失職|解雇|クビ|首に(なっ|され)|雇い止め|リストラ|派遣切り|退職(した|させ|勧奨)|仕事を(辞め|やめ|失)|無職|働(け|き)(ない|たい)|働く(場所|ところ)",
            0.8,
        ),
        (
            r"パワハラ|セクハラ|職場(の|で)|上司|残業|サービス残業|ブラック(企業|バイト)?|給料(が)?未払|賃金|労働(条件|基準)|夜勤|シフト|休みがない|過労",
            0.8,
        ),
        (r"就労(準備|支援)|サポステ|若者サポート|職場体験|就労体験", 1.0),
        (
            r"廃業|店(を)?(閉め|たたむ)|自営(業)?(が|を)|漁(が|に)(出られ|でき)|農業を(続け|辞め)",
            0.6,
        ),
        (
            r"\bjob\b|\bwork(ing)?\b|unemploy|fired|laid off|employer|boss|overtime|unpaid wages|mất việc|việc làm|bị sa thải|trabaho|emprego|trabalho|demitid|desempregad|"
            r"pekerjaan|dipecat|kaam|工作|失业|解雇|직장|일자리|해고|구직",
            0.7,
        ),
    ],
    "housing": [
        (
            r"住(む|める)(ところ|所|場所|家)|住まい|住居|部屋(を)?(探|借り)|アパート(を)?(探|借り|の契約)|賃貸|家(が|を)?(見つから|借りられ)|引っ越し(先|費用)",
            1.0,
        ),
        (
            r"立ち退き|退去(を|の)?(求め|通知|期限)|追い出|出て(行|い)(け|って)|契約(を)?(更新|解除)|保証人|連帯保証|家を(失|なく)|ホームレス|路上|ネットカフェ|車(の中|中)で(寝|生活)|車中泊|野宿",
            1.0,
        ),
        (
            r"市営住宅|公営住宅|県営住宅|UR|住宅(課|手当)|雨漏り|雨もり|屋根(が|を)|家が(壊|傾)|被災|罹災|仮設住宅|避難所",
            0.8,
        ),
        (r"homeless|evict|landlord|housing|place to live|apartment|guarantor", 0.9),
    ],
    "health": [
        (
            r"死にたい|しにたい|消えたい|きえたい|自殺|自死|生きて(る|いる)意味|生きるのが(つら|辛|しんど)|いなくなりたい|終わりにしたい|リストカット|リスカ|自傷|OD|オーバードーズ",
            1.0,
        ),
        (
            r"うつ|鬱|抑うつ|気分が(落ち|沈)|眠れ(ない|なく)|不眠|食欲(が)?(ない|なく)|パニック|不安(障害|が強)|心療内科|精神科|メンタル|こころの(病|不調)|幻聴|統合失調|双極",
            1.0,
        ),
        (
            r"依存(症)?|アルコール|酒(を|が)?(やめ|止め)|お酒(に|を)|飲酒|ギャンブル|パチンコ|スロット|競馬|薬物|市販薬|大麻|ゲーム依存",
            1.0,
        ),
        (
            r"受診|通院|治療|病気|難病|がん|癌|持病|薬(が|を)?(飲|もら|切れ)|体調|具合|痛(い|み)|熱が|倒れ|意識が|息(が)?(苦し|でき)|呼吸",
            0.7,
        ),
        # a place or an event, not yet a need: 病院から手紙が来る, 去年入院した
        (r"病院|入院|手術", 0.4),
        (r"保健(師|センター|所)", 0.8),
        (r"疲れ(果て|切っ)|限界|しんどい|つらい|辛い|苦しい", 0.3),
        (
            r"depress|suicid|kill myself|want to die|anxiety|can't sleep|mental health|alcohol|gambling|hospital|doctor|sick|illness",
            0.9,
        ),
        (
            r"想死|不想活|죽고 싶|muốn chết|quero morrer|gusto ko nang mamatay|ingin mati|bệnh viện|hospital|医院|병원",
            0.9,
        ),
    ],
    "hikikomori": [
        (
            r"ひきこもり|引きこもり|引き籠|ひきこもっ|引きこもっ|閉じこもっ|部屋から(出|で)(て|ない|られ)|外に出(られ|れ)ない|家から(出|で)(ない|られ)|外出(しない|できない)",
            1.0,
        ),
        (
            r"(何|なん)年も(家|部屋)|ずっと(家|部屋)(に|から)|社会(から|的)孤立|孤立している|誰とも(会|話)(わ|さ)ない|人と(会|話)うのが(怖|こわ)|8050|はちまるごーまる",
            0.8,
        ),
        (r"無職の(兄|弟|息子|娘|姉|妹)|(息子|娘|兄|弟)が(ずっと|何年も)", 0.6),
        (
            r"withdrawn|shut (himself|herself|themselves) in|hasn't left (his|her) room|hikikomori|won't leave (the|his|her) (house|room)",
            1.0,
        ),
    ],
    "dv_abuse": [
        (r"DV|ドメスティック|配偶者(から|の)?暴力|モラハラ|デートDV|経済的DV|精神的DV", 1.0),
        (
            r"((?<![丈工])夫|旦那|主人|妻|嫁|彼氏|彼女|パートナー|恋人|元夫|元妻|元彼|元カレ|元カノ|交際相手|同居人)(から|に|が)(.{0,12})(殴|なぐ|叩|たた|蹴|け(ら|っ)|暴力|暴言|暴れ|あばれ|怒鳴|どな|首を|脅|おど|束縛|監視|無理やり|むりやり|お金を(渡さ|くれ)|生活費を(渡さ|くれ))",
            1.0,
        ),
        (
            r"ストーカー|つきまと|付きまと|待ち伏せ|しつこく(連絡|LINE|電話)|(LINE|メッセージ|電話)が(毎日|何十|何百|100)|GPS|盗撮",
            1.0,
        ),
        (r"シェルター|保護命令|接近禁止|逃げ(たい|てきた|出したい)", 0.6),
        (r"((?<![丈工])夫(?!婦)|旦那|主人|妻|彼氏|パートナー|元夫|元彼)", 0.2),
        (
            r"(husband|boyfriend|partner|ex|wife|girlfriend) (hits|hit|beats|beat|kicks|threatens|threatened|hurts|hurt)|domestic violence|abusive (husband|partner|relationship)|stalk",
            1.0,
        ),
        (r"chồng (tôi )?đánh|marido (me )?(bate|agride)|丈夫打|남편이 때", 1.0),
    ],
    "legal": [
        (
            r"借金|しゃっきん|多重債務|債務整理|自己破産|破産|任意整理|消費者金融|サラ金|カードローン|リボ|闇金|ヤミ金|取り立て|返済(が|でき|に追)",
            1.0,
        ),
        (r"弁護士|司法書士|法テラス|裁判|訴え|訴訟|調停|示談|法律(相談|的)", 1.0),
        (r"離婚|親権|慰謝料|相続|遺産|遺言|成年後見|後見人|保佐|任意後見", 1.0),
        (
            r"詐欺|だまされ|騙され|架空請求|悪質(商法|業者)|訪問販売|買わされ|契約させられ|"
            r"(身に)?覚えのない(契約|請求|買い物|引き落とし)|次々販売|点検商法|送り(付|つ)け|"
            r"ローン(が|を)組ま(れ|され)|クーリングオフ|消費生活センター|投資(話|詐欺|で損)|SNS(で知り合|投資)|ロマンス詐欺|闇バイト|闇バイ|高額(な)?(請求|契約)|解約(でき|させ)",
            1.0,
        ),
        (
            r"契約(トラブル|を解除)|損害賠償|未払い(の)?(養育費|給料)|前科|出所|刑務所|仮釈放|保護観察",
            0.6,
        ),
        # the hooks and threats of "dark" part-time jobs and extortion
        (
            r"(免許証|身分証|保険証|マイナンバーカード)(の(写真|画像|コピー))?を(送|渡)|"
            r"個人情報を(送|渡|握|知られ)|脅迫|恐喝|ゆすられ|受け子|出し子|裏バイト|高額バイト",
            0.8,
        ),
        (r"\bdebt|lawyer|loan shark|divorce|inheritance|scam|fraud|court", 0.9),
    ],
    "education": [
        (
            r"不登校|登校(しぶり|拒否|できな|しな)|学校に(行け|いけ|行か|いか|行きたくな)|学校(を)?(休|やす)(み|ん)|保健室登校|適応指導教室|フリースクール",
            1.0,
        ),
        (
            r"いじめ|イジメ|虐め|仲間(はずれ|外れ)|無視され(てい|る)|からかわれ|悪口(を)?(言|書)",
            1.0,
        ),
        (
            r"担任|学校(の|で|と)|先生(に|が|と)|授業(について|に)|勉強(について|が)|成績|進学|進路|受験|入学|就学|転校|中退|退学|留年|学費|奨学金|教育委員会|スクール(カウンセラー|ソーシャルワーカー)|SSW|特別支援(学級|学校)",
            0.6,
        ),
        (
            r"(小|中|高)学生|(小|中|高)(1|2|3|4|5|6|一|二|三|四|五|六)(年)?の?(息子|娘|子)|高校生|中学生|小学生|大学生?|専門学校",
            0.3,
        ),
        (
            r"학교|입학|上学|入学|上小学|读小学|上初中|学校的|học sinh|trường học|đi học|escola|sekolah|paaralan",
            0.7,
        ),
        (
            r"bully|bullied|school refusal|won't go to school|skipping school|truant|teacher|tuition",
            0.9,
        ),
    ],
    "foreign_resident": [
        (
            r"在留(資格|カード|期間)|ビザ|査証|入管|出入国|永住|帰化|難民|仮放免|技能実習|実習生|特定技能|留学生|外国(人|籍)|国籍|日本語(が|を|の|で)(わから|分から|話せ|できな|読め|勉強|教室)|通訳|翻訳",
            1.0,
        ),
        (
            r"ごみ(の)?(出し方|分別)|ゴミの(出し方|分別)|日本の(ルール|習慣|制度)|母国|本国|国に(帰|かえ)",
            0.7,
        ),
        (
            r"visa|residence (card|status)|immigration|technical intern|foreigner|japanese language|don't (speak|understand|read) japanese",
            1.0,
        ),
        (
            r"tiếng Nhật|thực tập sinh|thị thực|visto|日语|签证|居留|일본어|비자|체류|bahasa Jepang|nihongo|jepang",
            1.0,
        ),
    ],
    "living_environment": [
        (
            r"ごみ屋敷|ゴミ屋敷|ごみ(が|で)(山|いっぱい|あふれ|溢れ)|ゴミ(が|で)(山|いっぱい|あふれ|溢れ)|物(が|で)(あふれ|溢れ)|片付け(られ|が)(ない|できな)|片づけられない",
            1.0,
        ),
        (
            r"悪臭|におい(が|も)(ひど|すご|きつ)|臭い(が|も)(ひど|すご|きつ)|異臭|害虫|ネズミ|ねずみ|ハエ|ゴキブリ",
            0.8,
        ),
        (
            r"多頭飼(い|育)|猫(が|を)?(何十|数十|増え)|犬(が|を)?(何十|数十|増え)|動物(が|を)?(増え|たくさん)",
            1.0,
        ),
        (
            r"近所(の|と|で)(トラブル|人|方)|隣(の|人|家)|騒音|うるさ(い|く)|近隣|苦情|(怒鳴|どな)り(込|こ)|境界|迷惑",
            0.7,
        ),
        (
            r"セルフネグレクト|(部屋|家|家の中|室内)(が|も|は)?[^。]{0,6}散らか|身なり(が|を)|入浴(して|しな)|風呂に入(って|ら)ない|家が荒れ|空き家",
            0.8,
        ),
        (r"hoard|garbage (piles|house)|neighbou?r|noise|smell", 0.8),
    ],
    "participation": [
        (
            r"居場所|いばしょ|行く(ところ|場所)が(ない|無い)|話し相手|話す(人|相手)が(い|居)ない|友(達|だち)が(い|居)ない|一人ぼっち|ひとりぼっち|孤独|寂し|さびし|さみし",
            1.0,
        ),
        (
            r"サロン|子ども食堂|こども食堂|カフェ|交流|仲間|サークル|趣味(の|を)|地域(の)?(活動|行事)|自治会|町内会|老人クラブ|集まり|集いの場",
            0.7,
        ),
        (
            r"ボランティア|役に立ちたい|誰かの役|社会(参加|とのつながり|に出)|人とつながり|つながりたい|生きがい|やりがい|できることを",
            0.9,
        ),
        (r"lonely|loneliness|no friends|volunteer|someone to talk to|community|belong", 0.9),
    ],
}


@dataclass(frozen=True)
class LexiconHit:
    """One lexicon entry that matched one sentence."""

    category: str
    weight: float
    matched: str
    sentence: str
    entry: int = 0  # which entry of the category matched


_COMPILED: dict[str, list[tuple[re.Pattern[str], float]]] = {
    cat: [(re.compile(p, re.IGNORECASE), w) for p, w in entries] for cat, entries in _RAW.items()
}


# A word followed by "if it becomes / might become" is a worry about the
# future, not a need yet (eval README rule 1: a child refusing school who
# *might* become hikikomori stays education only).
_FUTURE = re.compile(
    r"(?:に|と)(?:なったら|なっちゃったら|なってしまったら|なるのでは|なるんじゃ|なら(?:ないか|へんか)|"
    r"なりそう|なるかも|なりかね|なる前に|なるのが(?:心配|不安|怖))"
)


def lexicon_hits(sentences: Sequence[str]) -> list[LexiconHit]:
    """Every entry that matches a sentence (one hit per entry per sentence)."""
    hits = []
    for sentence in dict.fromkeys(sentences):
        for cat, entries in _COMPILED.items():
            for i, (pattern, weight) in enumerate(entries):
                for m in pattern.finditer(sentence):
                    if not _FUTURE.match(sentence, m.end()):
                        hits.append(LexiconHit(cat, weight, m.group(0), sentence, i))
                        break
    return hits


def lexicon_scores(hits: Sequence[LexiconHit]) -> dict[str, float]:
    """Per category: the best weight plus a little for further distinct entries, capped."""
    best: dict[str, dict[int, float]] = {}
    for h in hits:
        entries = best.setdefault(h.category, {})
        entries[h.entry] = max(entries.get(h.entry, 0.0), h.weight)
    out = {}
    for cat, by_entry in best.items():
        weights = sorted(by_entry.values(), reverse=True)
        out[cat] = min(1.5, weights[0] + 0.25 * sum(weights[1:3]))
    return out
