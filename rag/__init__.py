"""Document knowledge: ingestion, chunking, embedding, the Chroma store, retrieval and MAIN-RAG filtering.

Public entry points (imported lazily by their callers to keep start-up fast):

- ``rag.search.search_documents(question, *, agents, settings, top_k=None, collection=None, trace=None,
  on_delta=None) -> DocumentAnswer`` with ``agents = rag.main_rag.RagAgents.from_hub(hub, trace)``;
- ``rag.mode.answer_rag`` (the "rag" mode), ``rag.cli.cmd_ingest`` (``lodestar ingest``);
- ``rag.ingest.ingest_paths`` and ``rag.retrieve.retrieve`` for programmatic use.
"""
