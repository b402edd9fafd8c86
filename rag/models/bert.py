"""A BERT sentence encoder in NumPy: the embedding model's forward pass without importing torch.

Importing sentence-transformers (torch, then transformers) takes about 5 s on
this machine, half of a new `rag ask` process; the embedding model itself is
six small BERT layers, which NumPy runs for a question in milliseconds (for
large batches torch is about three times faster). This module reads the same
files sentence-transformers would (`model.safetensors`, `tokenizer.json`,
`config.json`, the pooling config) and computes the same vectors: token
embeddings, the encoder layers, mean (or CLS) pooling, unit length. It
serves only models of exactly that shape (`BertEncoder.serves`); any other
model is left to sentence-transformers (`rag.models.embed.make_embedder`).

    >>> encoder = BertEncoder(Path(".../all-MiniLM-L6-v2"))
    >>> encoder.encode(["Who is Colin Clarke?"]).shape
    (1, 384)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.special import erf

TRANSFORMER = "sentence_transformers.models.Transformer"
POOLING = "sentence_transformers.models.Pooling"
NORMALIZE = "sentence_transformers.models.Normalize"
POOLING_MODES = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}


def _json(path: Path) -> dict | list | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def pooling_mode(folder: Path) -> str | None:
    """'mean' or 'cls' when the folder is a plain BERT sentence-transformers model this encoder
    reproduces (Transformer, Pooling of one of those modes, Normalize or nothing); else None."""
    config, modules = _json(folder / "config.json"), _json(folder / "modules.json")
    if not isinstance(config, dict) or config.get("model_type") != "bert":
        return None
    if config.get("hidden_act") != "gelu" or config.get("position_embedding_type", "absolute") != "absolute":
        return None
    if not (folder / "model.safetensors").is_file() or not (folder / "tokenizer.json").is_file():
        return None
    if not isinstance(modules, list):
        return None
    kinds = [m.get("type") for m in modules]
    if kinds not in ([TRANSFORMER, POOLING], [TRANSFORMER, POOLING, NORMALIZE]):
        return None
    pooling = _json(folder / modules[1].get("path", "") / "config.json")
    if not isinstance(pooling, dict):
        return None
    chosen = [mode for key, mode in POOLING_MODES.items() if pooling.get(key)]
    others = [key for key, value in pooling.items() if key.startswith("pooling_mode") and value and key not in POOLING_MODES]
    return chosen[0] if len(chosen) == 1 and not others else None


class BertEncoder:
    """The forward pass of a BERT sentence-transformers model, unit-length vectors out."""

    def __init__(self, folder: Path):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        mode = pooling_mode(folder)
        if mode is None:
            raise ValueError(f"{folder} is not a BERT sentence-transformers model this encoder reproduces")
        self.pooling = mode
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.weights = load_file(str(folder / "model.safetensors"))
        self.dimension = int(config["hidden_size"])
        settings = _json(folder / "sentence_bert_config.json")
        max_length = settings.get("max_seq_length") if isinstance(settings, dict) else None
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(max_length or config["max_position_embeddings"]))
        self.tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)))

    def encode(self, texts: list[str]) -> np.ndarray:
        """Unit-length embeddings of `texts`, one row each (padded to the longest of them)."""
        encodings = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        hidden = self._forward(ids, types, mask)
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def _w(self, name: str) -> np.ndarray:
        return self.weights[name]

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        flat = x.reshape(-1, x.shape[-1])  # one 2-D product: BLAS, not a loop over the batch
        return (flat @ self._w(f"{name}.weight").T + self._w(f"{name}.bias")).reshape(*x.shape[:-1], -1)

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(axis=-1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self._w(f"{name}.weight") + self._w(f"{name}.bias")

    def _forward(self, ids: np.ndarray, types: np.ndarray, mask: np.ndarray) -> np.ndarray:
        positions = np.arange(ids.shape[1])
        x = (self._w("embeddings.word_embeddings.weight")[ids]
             + self._w("embeddings.position_embeddings.weight")[positions][None]
             + self._w("embeddings.token_type_embeddings.weight")[types])
        x = self._norm(x, "embeddings.LayerNorm")
        # Padding is never attended to: its keys get the lowest float, as transformers does.
        blocked = (1.0 - mask)[:, None, None, :] * np.finfo(np.float32).min
        for i in range(self.layers):
            x = self._layer(x, blocked, f"encoder.layer.{i}")
        return x

    def _layer(self, x: np.ndarray, blocked: np.ndarray, name: str) -> np.ndarray:
        batch, length, width = x.shape
        size = width // self.heads

        def heads(t: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(t.reshape(batch, length, self.heads, size).transpose(0, 2, 1, 3))

        q, k, v = (heads(self._linear(x, f"{name}.attention.self.{part}")) for part in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(size)) + blocked
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        attended = (scores / scores.sum(axis=-1, keepdims=True)) @ v
        attended = attended.transpose(0, 2, 1, 3).reshape(batch, length, width)
        x = self._norm(x + self._linear(attended, f"{name}.attention.output.dense"), f"{name}.attention.output.LayerNorm")
        inner = self._linear(x, f"{name}.intermediate.dense")
        inner = inner * 0.5 * (1.0 + erf(inner / np.float32(np.sqrt(2.0))))  # exact GELU, as BERT's "gelu"
        return self._norm(x + self._linear(inner, f"{name}.output.dense"), f"{name}.output.LayerNorm")
