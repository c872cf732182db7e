"""One embedding model per process: rag and kg get the very same loaded object."""

from __future__ import annotations

import pytest

from agent.core.errors import ConfigError
from agent.llm.embedding import sentence_model
from kg import embed as kg_embed
from rag.embed import get_embedder


def test_rag_and_kg_share_one_loaded_model() -> None:
    rag_model = get_embedder("all-MiniLM-L6-v2").model
    kg_model = sentence_model("sentence-transformers/all-MiniLM-L6-v2", "kg.embedding_model")
    assert rag_model is kg_model
    vectors = kg_embed.encode_sync("all-MiniLM-L6-v2", ["lodestar", "pole star"])
    assert vectors.shape == (2, get_embedder("all-MiniLM-L6-v2").dimension)


def test_a_model_that_cannot_load_names_the_key(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"^kg\.embedding_model: cannot load"):
        sentence_model(str(tmp_path), "kg.embedding_model")
