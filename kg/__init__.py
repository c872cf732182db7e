"""Graph knowledge: a networkx triple store, loaders, entity linking and Think-on-Graph search.

- ``kg.store``: :class:`~kg.store.KnowledgeGraph` (MultiDiGraph + name/alias index, pickle persistence)
- ``kg.loaders`` / ``kg.ingest``: TSV, CSV, JSONL and N-Triples files, alias files, merge reports
- ``kg.linking``: question → topic entities (marked spans, n-grams, fuzzy, embeddings)
- ``kg.tog``, ``kg.prompts``, ``kg.parsing``, ``kg.prune``: the ToG beam search and its pieces
- ``kg.mode``: :func:`~kg.mode.query_graph` (for tools) and the ``kg`` mode handler
- ``kg.cli``: ``lodestar kg load | stats | show``
"""
