"""The NumPy encoder gives the embedding model's own vectors, on the real model, without torch;
a batch of many texts (indexing) goes to sentence-transformers itself."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.models.bert import BertEncoder, pooling_mode
from rag.models.catalogue import resolve_embedding
from rag.models.embed import NUMPY_MAX_TEXTS, BertEmbedder, SentenceTransformerEmbedder, make_embedder

DEFAULT = "all-minilm-l6-v2"
TEXTS = [
    "Who is Colin Clarke?",
    "Russia’s U.S.-made drones: 12 of them, on 3 Jan. 2024.",
    "",
    "wort " * 400,  # past the model's 256-token limit: truncated the same way
    "東京は日本の首都です。",
    "The museum opens on weekdays, not on holidays.",
]


@pytest.fixture(scope="module")
def both():
    return BertEmbedder(DEFAULT), SentenceTransformerEmbedder(DEFAULT)


def test_numpy_vectors_equal_sentence_transformers_on_the_real_model(both):
    ours, reference = both
    encoder = BertEncoder(resolve_embedding(DEFAULT))
    # A batch of unlike lengths (padding) and each text alone give the reference's vectors.
    expected = np.array(reference.embed(TEXTS))
    assert np.abs(encoder.encode(TEXTS) - expected).max() < 1e-5
    alone = np.array([ours.embed([text])[0] for text in TEXTS])
    assert np.abs(alone - expected).max() < 1e-5
    assert ours.dimension == reference.dimension == 384


def test_a_large_batch_goes_to_sentence_transformers(both, monkeypatch):
    ours, _ = both
    many = [f"passage number {i}" for i in range(NUMPY_MAX_TEXTS + 1)]
    monkeypatch.setattr(BertEncoder, "encode", lambda self, texts: pytest.fail("indexing ran in NumPy"))
    assert len(ours.embed(many)) == len(many)
    with pytest.raises(pytest.fail.Exception):
        ours.embed(many[:NUMPY_MAX_TEXTS])


def test_numpy_and_reference_rank_the_seed_passages_alike(both):
    ours, reference = both
    passages = [p.read_text(encoding="utf-8")[i : i + 500] for p in sorted(Path("seeds").glob("*")) for i in (0, 2000, 4000)]
    questions = [json.loads(line)["question"] for line in Path("eval/qa.jsonl").read_text().splitlines()[:20]]

    def top5(embedder):
        scores = np.array(embedder.embed(questions)) @ np.array(embedder.embed(passages)).T
        return scores.argsort(axis=1)[:, ::-1][:, :5]

    assert (top5(ours) == top5(reference)).all()


def test_the_default_model_runs_in_numpy_and_others_in_sentence_transformers(tmp_path):
    assert isinstance(make_embedder(DEFAULT), BertEmbedder)
    # The same model with max pooling is one the NumPy encoder does not reproduce.
    folder = tmp_path / "max-pooled"
    shutil.copytree(resolve_embedding(DEFAULT), folder)
    pooling = folder / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text()) | {"pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": True}
    pooling.write_text(json.dumps(config))
    assert pooling_mode(folder) is None
    assert isinstance(make_embedder(str(folder)), SentenceTransformerEmbedder)
    (folder / "modules.json").write_text("not json")
    assert pooling_mode(folder) is None


def test_embedding_a_question_does_not_import_torch():
    # torch and transformers are most of a new process's start; the query path must not need them.
    code = ("import sys; from rag.models.embed import make_embedder; "
            "v = make_embedder('all-minilm-l6-v2').embed(['Who is Colin Clarke?', 'And Suleymanov?'])[0]; "
            "print(len(v), 'torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["384", "False", "False"]
