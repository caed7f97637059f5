"""The triage engine: one message in, every need, any crisis and the fitting services out.

normalise → crisis check → embed the message and each sentence (one batch)
→ kNN over example concerns → per-category scores with the sentences that
support them, fused with the lexicon → multi-label decision → services with
a reason each. The conversation engine, the eval and the admin "Try it" box
all call this same ``assess``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from knowledge import CATEGORIES, KnowledgeStore, Service

from .assessment import Assessment, CategoryFinding, CrisisFinding, Evidence, ServiceMatch
from .crisis import CRISIS_EXEMPLARS, detect_crisis
from .embedder import Embedder, make_embedder
from .index import ExemplarIndex, SyncReport
from .language import detect_language
from .lexicon import LexiconHit, lexicon_hits, lexicon_scores
from .normalise import CRISIS_MAX_CHARS, MAX_SENTENCES, normalise, split_sentences
from .probe import CategoryProbe
from .support import (
    children_present,
    is_joking,
    is_past,
    is_self_introduction,
    is_topic_free,
    is_under_care,
)

log = logging.getLogger(__name__)

# which field takes a crisis of each type first (eval rules 3 and 4)
CRISIS_CATEGORY = {"suicide": "health", "medical": "health", "child_abuse": "child_family"}


# Openers that name no trouble: a message closer to these than to any
# concern gets a warm open question instead of a guess.
GENERIC_MESSAGES = [
    "相談したいことがあります",
    "ちょっと聞いてもらえますか",
    "話を聞いてほしいです",
    "どこに相談したらいいのかわかりません",
    "困っていることがあります",
    "こんにちは",
    "はじめまして、よろしくお願いします",
    "誰かに相談したくて連絡しました",
    "こういうことを相談してもいいのかわからないのですが",
    "うまく言えないんですけど",
    "Hello, I have a question",
    "I need some advice",
    "Can I talk to someone?",
]

# Sentences that carry no topic of their own: closings, pleas for advice,
# bare self-introductions. A sentence closer to one of these than to any
# concern supports no field (its probe reading is noise, usually "health").
GENERIC_SENTENCES = [
    "どうすればいいでしょうか",
    "どうしたらいいのかわかりません",
    "何からすればいいのかわからない",
    "教えてください",
    "助けてください",
    "よろしくお願いします",
    "相談に乗ってもらえますか",
    "どこに連絡すればいいですか",
    "よくわからなくて不安です",
    "自分ではもうどうにもできません",
    "30代の会社員です",
    "田中と申します",
    "What should I do?",
    "Please help me",
]


@dataclass(frozen=True)
class Tuning:
    """The knobs of the fusion and the multi-label decision, tuned on the dev set."""

    k: int = 40  # neighbours per query
    whole_weight: float = 0.5  # whole message vs best sentence
    lexicon_weight: float = 0.3
    select_abs: float = 0.35  # a secondary field needs at least this fused score
    select_rel: float = 0.0  # ... and this share of the top field's score
    max_categories: int = 3
    support_lex: float = 1.0  # a lexicon word this strong supports its field on its own
    support_prob: float = 0.45  # a sentence this sure of its field supports it
    support_hint: float = 0.5  # ... or leaning to it with a lexicon word this strong
    probe_l2: float = 0.1
    halves_over: int = 120  # a sentence longer than this is read as two halves
    whole_read_below: int = 72  # tokens; a longer message is the mean of its sentences
    query_tokens_max: int = 96  # a longer sentence is read in pieces of about this size
    tokens_max: int = 768  # the encoder reads this much of a message; the words, all of it
    vague_sim: float = 0.83  # below this best similarity and no lexicon word: vague
    vague_margin: float = 0.0  # ... or when a generic opener fits about as well as any concern
    sentence_generic_margin: float = 0.0  # a sentence this close to a generic phrase shows no need
    services_per_category: int = 2
    max_services: int = 5


class Triage:
    """Holds the embedder, the index and a cache of the KB; ``assess`` is thread-safe."""

    def __init__(
        self,
        store: KnowledgeStore,
        embedder: Embedder,
        index_dir: Path | None,
        *,
        tuning: Tuning | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.tuning = tuning or Tuning()
        self.index = ExemplarIndex(embedder, index_dir)
        self._lock = threading.RLock()
        self._kb_version = -1
        self._concern_service: dict[int, str] = {}
        self._concern_category: dict[int, str] = {}
        self._concern_text: dict[int, str] = {}
        self._services: dict[str, Service] = {}
        self._org_names: dict[str, str] = {}
        types = list(CRISIS_EXEMPLARS)
        texts = [t for ct in types for t in CRISIS_EXEMPLARS[ct]]
        owners = [ct for ct in types for _ in CRISIS_EXEMPLARS[ct]]
        self._crisis_vectors = embedder.embed_passages(texts)
        self._crisis_owner = np.array(owners)
        self._generic_vectors = embedder.embed_queries(GENERIC_MESSAGES)
        self._generic_sentence_vectors = embedder.embed_queries(
            GENERIC_MESSAGES + GENERIC_SENTENCES
        )
        # Our matrix products are tiny; OpenBLAS's spinning worker threads
        # would only compete with the encoder's own threads for the 2 cores.
        threadpool_limits(limits=1, user_api="blas")
        self._probe = CategoryProbe(list(CATEGORIES), l2=self.tuning.probe_l2)
        self.last_sync: SyncReport | None = None
        self.refresh()

    # -- keeping up with the KB -----------------------------------------

    def refresh(self) -> SyncReport | None:
        """Re-read the KB if it changed; re-embed only changed concerns."""
        with self._lock:
            version = self.store.version
            if version == self._kb_version:
                return None
            concerns = self.store.concerns()
            report = self.index.sync(concerns, self.store.content_hash())
            self._concern_service = {c.id: c.service_id for c in concerns}
            self._concern_category = {c.id: c.category for c in concerns}
            self._concern_text = {c.id: c.text for c in concerns}
            vectors, ids = self.index.vectors()
            probe = CategoryProbe(list(CATEGORIES), l2=self.tuning.probe_l2)
            self._probe = probe.fit(vectors, [self._concern_category.get(int(i), "") for i in ids])
            self._services = {s.id: s for s in self.store.services()}
            self._org_names = {o.id: o.name for o in self.store.organizations()}
            self._kb_version = version
            self.last_sync = report
            return report

    # -- the assessment --------------------------------------------------

    def assess(self, text: str) -> Assessment:
        """Everything triage can say about one message."""
        self.refresh()
        t = self.tuning
        norm = normalise(text)
        sentences = split_sentences(norm, halves_over=t.halves_over)
        if not sentences and len(text) > len(norm):
            # the first MAX_CHARS hold no word (a wall of emoji): read from the first word on,
            # so a plea after the wall is still seen and the words are assessed
            full = normalise(text, max_chars=CRISIS_MAX_CHARS)
            first = next((i for i, ch in enumerate(full) if ch.isalnum()), None)
            if first is not None:
                norm = normalise(full[first:])
                sentences = split_sentences(norm, halves_over=t.halves_over)
        language = detect_language(norm)
        if not sentences:  # nothing but spaces, emoji or punctuation
            return Assessment(text=norm, language=language, vague=True, kb_version=self._kb_version)
        # The encoder is most of the cost: it reads the message once whole and
        # once sentence by sentence (a long sentence as its two halves), and
        # skips greetings, bare pleas and self-introductions, which name no need.
        readable = split_sentences(norm, halves_over=t.halves_over, halves_only=True)
        kept = [s for s in readable if not is_topic_free(s)] or readable
        whole = norm if len(kept) == len(readable) else _without(norm, readable, kept)
        # a pasted page costs the encoder seconds and every reply queued behind it waits:
        # it reads the first tokens_max tokens (sentences, long ones in pieces), while
        # the lexicon and the crisis rules below still read every word
        kept = read_within(
            kept, self.embedder.token_count, piece=t.query_tokens_max, budget=t.tokens_max
        )
        queries = [whole] + [s for s in kept if s != whole]
        if len(queries) > 2 and self.embedder.token_count(whole) >= t.whole_read_below:
            # A long message is not read twice: its vector is the mean of its
            # sentences', weighted by length (as the encoder's own mean pooling).
            parts = self.embedder.embed_queries(queries[1:])
            weights = np.array([len(q) for q in queries[1:]], dtype=np.float32)
            mean = weights @ parts
            mean /= max(float(np.linalg.norm(mean)), 1e-9)
            vectors = np.vstack([mean[None, :], parts]).astype(np.float32)
        else:
            vectors = self.embedder.embed_queries(queries)

        # crisis first: lexicon and rules, escalated by the embedding signal
        crisis_sims = vectors @ self._crisis_vectors.T
        emb_crisis = {
            ct: float(crisis_sims[:, self._crisis_owner == ct].max()) for ct in CRISIS_EXEMPLARS
        }
        crisis_sentences = sentences
        if len(text) > len(norm) or len(sentences) >= MAX_SENTENCES:
            full = normalise(text, max_chars=CRISIS_MAX_CHARS)
            crisis_sentences = split_sentences(full, max_sentences=len(full))
        crisis = detect_crisis(crisis_sentences, emb_crisis)

        with self._lock:
            sims, ids = self.index.search(vectors, t.k)
            concern_category = self._concern_category
            probe = self._probe

        # per query, best similarity per category and the concern behind it
        n_q = len(queries)
        best: list[dict[str, tuple[float, int]]] = [{} for _ in range(n_q)]
        for qi in range(n_q):
            for sim, cid in zip(sims[qi], ids[qi], strict=True):
                cat = concern_category.get(int(cid)) if cid >= 0 else None
                if cat is not None and (cat not in best[qi] or sim > best[qi][cat][0]):
                    best[qi][cat] = (float(sim), int(cid))
        top_sim = max((v[0] for b in best for v in b.values()), default=0.0)

        # the probe reads which field each query is about; words add to it
        codes = list(CATEGORIES)
        probs = probe.predict(vectors)
        whole = probs[0]
        sentence_max = probs[1:].max(axis=0) if n_q > 1 else whole
        hits = lexicon_hits(sentences)
        lex = lexicon_scores(hits)
        lex_vec = np.array([lex.get(c, 0.0) for c in codes])
        scores = (
            t.whole_weight * whole
            + (1 - t.whole_weight) * sentence_max
            + t.lexicon_weight * lex_vec
        )
        fused = {c: float(scores[i]) for i, c in enumerate(codes)}

        # rules the labelling follows (eval README 3, 4, 6)
        if crisis.type in CRISIS_CATEGORY:
            c = CRISIS_CATEGORY[crisis.type]
            fused[c] = max(fused[c], max(fused.values()) + 0.01)
        foreign = language not in ("ja", "other")
        if foreign and lex.get("foreign_resident", 0.0) < 1.0:
            # a foreign resident's real need leads unless the obstacle is status or language
            others = max(v for c, v in fused.items() if c != "foreign_resident")
            fused["foreign_resident"] = min(fused["foreign_resident"], others - 0.001)
        ranked = sorted(fused.items(), key=lambda kv: kv[1], reverse=True)

        generic_sim = float((vectors @ self._generic_vectors.T).max())
        generic_sims = (vectors @ self._generic_sentence_vectors.T).max(axis=1)
        vague = (
            not hits
            and crisis.type is None
            and (top_sim < t.vague_sim or generic_sim >= top_sim - t.vague_margin)
        )
        # a sentence that fits a generic phrase as well as any concern, that
        # only introduces the writer, or that jokes, shows no need of its own
        meaningful = [
            qi == 0
            or (
                float(generic_sims[qi])
                < max((v[0] for v in best[qi].values()), default=0.0) - t.sentence_generic_margin
                and not is_self_introduction(queries[qi])
                and not is_joking(queries[qi])
            )
            for qi in range(n_q)
        ]
        supported = self._supported(queries, probs, hits, codes, meaningful)
        selected = [ranked[0][0]]
        if not vague:
            for c, score in ranked[1:]:
                if len(selected) >= t.max_categories:
                    break
                if (
                    score >= t.select_abs
                    and score >= t.select_rel * ranked[0][1]
                    and c in supported
                ):
                    selected.append(c)
        if foreign and "foreign_resident" not in selected:
            selected.append("foreign_resident")
        if not vague:
            self._household_rules(selected, ranked, norm, lex, foreign)

        findings = [
            CategoryFinding(
                code=c,
                label=CATEGORIES[c],
                score=round(fused[c], 4),
                evidence=self._evidence(c, queries, best, hits, probs),
            )
            for c in selected
        ]
        services = self._services_for(selected, best, queries, crisis.type)
        crisis_finding = None
        if crisis.type is not None:
            fired = [h for h in crisis.hits if h.type == crisis.type]
            crisis_finding = CrisisFinding(
                type=crisis.type,
                phrases=list(dict.fromkeys(h.phrase for h in fired)),
                sentences=list(dict.fromkeys(h.sentence for h in fired)),
            )
        return Assessment(
            text=norm,
            language=language,
            categories=findings,
            ranked=[(c, round(s, 4)) for c, s in ranked],
            crisis=crisis_finding,
            risk_concern=crisis.risk_concern,
            complex=len(selected) >= 2,
            vague=vague,
            services=services,
            kb_version=self._kb_version,
        )

    def _household_rules(
        self,
        selected: list[str],
        ranked: Sequence[tuple[str, float]],
        text: str,
        lex: dict[str, float],
        foreign: bool,
    ) -> None:
        """Fields the labelling rules add once others are known (eval README 5, 6)."""
        t = self.tuning
        if len(selected) == 1 and (foreign or selected[0] == "foreign_resident"):
            # rule 6: a foreign resident's message carries the real need too
            selected.append(next(c for c, _ in ranked if c not in selected))
        if (
            len(selected) < t.max_categories
            and "dv_abuse" in selected
            and "child_family" not in selected
            and children_present(text)
        ):
            # rule 5: children present during partner violence
            selected.append("child_family")
        if (
            len(selected) < t.max_categories
            and "living_environment" in selected
            and "elderly_care" not in selected
            and lex.get("elderly_care", 0.0) >= t.support_hint
        ):
            # an older person's home in disorder needs the elderly watch (見守り) too
            selected.append("elderly_care")

    def _supported(
        self,
        queries: Sequence[str],
        probs: npt.NDArray[np.float64],
        hits: Sequence[LexiconHit],
        codes: Sequence[str],
        meaningful: Sequence[bool],
    ) -> set[str]:
        """Fields that some sentence is mainly about, or that a strong word names.

        A second field needs its own sentence: a background fact mentioned in
        passing (a past hospital stay) is not a need.
        """
        t = self.tuning
        background = {q for q in queries if is_under_care(q)}
        supported = {
            h.category for h in hits if h.weight >= t.support_lex and h.sentence not in background
        }
        for qi, query in enumerate(queries):
            if not meaningful[qi] or query in background:
                continue
            lex = lexicon_scores([h for h in hits if h.sentence == query])
            row = probs[qi] + t.lexicon_weight * np.array([lex.get(c, 0.0) for c in codes])
            top = int(row.argmax())
            hinted = lex.get(codes[top], 0.0) >= t.support_hint and not is_past(query)
            if probs[qi][top] >= t.support_prob or hinted:
                supported.add(codes[top])
        return supported

    def _evidence(
        self,
        category: str,
        queries: Sequence[str],
        best: list[dict[str, tuple[float, int]]],
        hits: Sequence[LexiconHit],
        probs: npt.NDArray[np.float64],
    ) -> list[Evidence]:
        """The resident's own sentences that show a field: words first, then meaning."""
        out = [
            Evidence(sentence=h.sentence, score=h.weight, matched=h.matched, source="lexicon")
            for h in hits
            if h.category == category
        ]
        col = list(CATEGORIES).index(category)
        rows = range(1, len(queries)) if len(queries) > 1 else range(1)
        ranked = sorted(rows, key=lambda qi: float(probs[qi][col]), reverse=True)
        for qi in ranked[:2]:
            if probs[qi][col] < 0.15 and out:
                break
            near = best[qi].get(category)
            out.append(
                Evidence(
                    sentence=queries[qi],
                    score=round(float(probs[qi][col]), 4),
                    matched=self._concern_text.get(near[1], "") if near else "",
                    source="embedding",
                )
            )
        seen: set[str] = set()
        unique = []
        for e in out:
            if e.sentence not in seen:
                seen.add(e.sentence)
                unique.append(e)
        return unique[:3]

    def _services_for(
        self,
        selected: Sequence[str],
        best: list[dict[str, tuple[float, int]]],
        queries: Sequence[str],
        crisis_type: str | None,
    ) -> list[ServiceMatch]:
        t = self.tuning
        picks: list[ServiceMatch] = []
        taken: set[str] = set()
        if crisis_type is not None:
            for s in self._services.values():
                if crisis_type in s.crisis_types and s.status == "active":
                    picks.append(
                        self._match(s, 1.0, f"{CRISIS_LABEL[crisis_type]}のときの窓口です。")
                    )
                    taken.add(s.id)
            picks = picks[:3]
        for cat in selected:
            scored: dict[str, tuple[float, int, int]] = {}
            for qi, b in enumerate(best):
                for c, (sim, cid) in b.items():
                    sid = self._concern_service.get(cid)
                    if c != cat or sid is None or sid in taken:
                        continue
                    service = self._services.get(sid)
                    if service is None or service.status != "active" or service.kind == "hotline":
                        continue
                    if sid not in scored or sim > scored[sid][0]:
                        scored[sid] = (sim, cid, qi)
            if len(scored) < t.services_per_category:
                for s in self._services.values():
                    if (
                        cat in s.categories
                        and s.id not in scored
                        and s.id not in taken
                        and s.kind != "hotline"
                        and s.status == "active"
                    ):
                        scored[s.id] = (0.0, -1, 0)
            ranked = sorted(scored.items(), key=lambda kv: kv[1][0], reverse=True)
            for sid, (sim, cid, qi) in ranked[: t.services_per_category]:
                service = self._services[sid]
                label = CATEGORIES[cat]
                if cid >= 0:
                    reason = (
                        f"「{_clip(queries[qi])}」という{label}の相談は、"
                        f"「{_clip(self._concern_text.get(cid, ''))}」"
                        "のような相談を受けている窓口が合います。"
                    )
                else:
                    reason = f"{label}の相談を受けている窓口です。"
                picks.append(self._match(service, sim, reason))
                taken.add(sid)
        return picks[: t.max_services + (3 if crisis_type else 0)]

    def _match(self, service: Service, score: float, reason: str) -> ServiceMatch:
        return ServiceMatch(
            service_id=service.id,
            name=service.name,
            organization=self._org_names.get(service.organization_id, ""),
            categories=service.categories,
            score=round(score, 4),
            reason=reason,
            phone=service.phone,
            hours=service.hours_text(),
            url=service.url,
        )


CRISIS_LABEL = {
    "suicide": "命の危険",
    "violence": "暴力の危険",
    "child_abuse": "子どもの虐待",
    "medical": "急病",
}


def read_within(
    sentences: Sequence[str], count: Callable[[str], int], *, piece: int, budget: int
) -> list[str]:
    """The sentences the encoder reads: in order, a long one cut into pieces of about
    ``piece`` tokens, until ``budget`` tokens are used (the first is always read)."""
    out: list[str] = []
    used = 0
    for sentence in sentences:
        n = count(sentence)
        if n <= piece:
            parts = [(sentence, n)]
        else:
            size = max(1, len(sentence) * piece * 9 // (n * 10))  # chars, a little under
            cuts = (sentence[i : i + size].strip() for i in range(0, len(sentence), size))
            parts = [(c, count(c)) for c in cuts if c]
        for text, tokens in parts:
            if out and used + tokens > budget:
                return out
            out.append(text)
            used += tokens
    return out


def _without(text: str, sentences: Sequence[str], kept: Sequence[str]) -> str:
    """``text`` less the sentences not kept (whitespace tidied)."""
    keep = set(kept)
    out, at = [], 0
    for s in sentences:
        found = text.find(s, at)
        if found < 0:
            continue
        out.append(text[at : found + len(s)] if s in keep else text[at:found])
        at = found + len(s)
    out.append(text[at:])
    return " ".join("".join(out).split()) or " ".join(kept)


def _clip(text: str, n: int = 40) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def open_triage(
    store: KnowledgeStore,
    embedder: str | Embedder = "e5-small",
    index_dir: Path | None = None,
    *,
    tuning: Tuning | None = None,
) -> Triage:
    """Build a ready engine: embedder loaded, index synced with the KB."""
    emb = make_embedder(embedder) if isinstance(embedder, str) else embedder
    return Triage(store, emb, index_dir, tuning=tuning)
