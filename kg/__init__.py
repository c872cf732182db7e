"""Graph knowledge: graph stores (networkx, oxigraph, SPARQL), loaders, entity linking and Think-on-Graph search.

- ``kg.store``: :class:`~kg.store.KnowledgeGraph` (MultiDiGraph + name/alias index); ``kg.graphfile``: its file
  (JSON + int arrays, never a pickle), recorded sources, stale temporaries
- ``kg.stores``: the :class:`~kg.stores.base.GraphStore` interface and its backends, chosen by ``[kg] backend``
- ``kg.loaders`` / ``kg.ingest``: TSV, CSV, JSONL, N-Triples and Turtle files, alias files, merge reports
- ``kg.linking``: question → topic entities (marked spans, n-grams, fuzzy, embeddings)
- ``kg.tog``, ``kg.prompts``, ``kg.parsing``, ``kg.prune``: the ToG beam search and its pieces
- ``kg.mode``: :func:`~kg.mode.query_graph` (for tools) and the ``kg`` mode handler
- ``kg.cli``: ``lodestar kg load | stats | show | rebuild | reset``
"""
