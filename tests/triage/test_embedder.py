"""Embedders: the bundled e5-small, and sentence-transformers with a model built here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from knowledge import KnowledgeStore
from triage import EmbedderUnavailable, SentenceTransformerEmbedder, make_embedder, open_triage


def test_e5_small_gives_normalised_384d_vectors() -> None:
    emb = make_embedder("e5-small")
    q = emb.embed_queries(["家賃が払えない", "rent"])
    p = emb.embed_passages(["家賃を滞納している"])
    assert q.shape == (2, 384) and p.shape == (1, 384) and q.dtype == np.float32
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-3)
    assert emb.embed_queries([]).shape == (0, 384)
    # related meaning is closer than unrelated meaning, across languages too
    assert float(q[0] @ p[0]) > float(emb.embed_queries(["子どもが学校に行けない"])[0] @ p[0])
    assert float(emb.embed_queries(["I cannot pay my rent"])[0] @ p[0]) > 0.8
    # the engine sizes its work by tokens: prefix and specials included, more text more tokens
    assert 6 < emb.token_count("家賃") < emb.token_count("家賃が三か月も払えていません")


@pytest.mark.parametrize("spec", ["e6-large", "sentence-transformers:", ""])
def test_unknown_embedders_are_refused_by_name(spec: str) -> None:
    with pytest.raises(EmbedderUnavailable):
        make_embedder(spec)


def _tiny_sentence_transformer(folder: Path) -> Path:
    """A 2-layer BERT with a word-level tokenizer, made from nothing (no download)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules as models
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    words = [
        "家賃",
        "払え",
        "ない",
        "学校",
        "行け",
        "母",
        "介護",
        "rent",
        "school",
        "[UNK]",
        "[PAD]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
    ]
    vocab = {w: i for i, w in enumerate(words)}
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    bert_dir = folder / "bert"
    BertModel(
        BertConfig(
            vocab_size=len(vocab),
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=64,
        )
    ).save_pretrained(bert_dir)
    fast.save_pretrained(bert_dir)
    transformer = models.Transformer(str(bert_dir), max_seq_length=32)
    pooling = models.Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    out = folder / "tiny-st"
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(out))
    return out


def test_sentence_transformers_embedder_runs_offline(
    tmp_path: Path, small_store: KnowledgeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    path = _tiny_sentence_transformer(tmp_path)
    emb = SentenceTransformerEmbedder(str(path))
    assert emb.dim == 16 and emb.id == f"sentence-transformers:{path}"
    v = emb.embed_queries(["家賃 払え ない"])
    assert v.shape == (1, 16)
    assert 3 <= emb.token_count("家賃 払え ない") <= 5  # three words (+ specials if any)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-3)
    # the whole engine works on it, with its own index tag
    engine = open_triage(small_store, f"sentence-transformers:{path}", tmp_path / "idx")
    assert engine.last_sync is not None and engine.last_sync.total == 5
    assert engine.assess("家賃 払え ない").categories


def test_missing_local_model_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EmbedderUnavailable, match="cannot load"):
        SentenceTransformerEmbedder(str(tmp_path / "no-such-model"))
