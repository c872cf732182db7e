"""Graph stores behind one interface (:class:`~kg.stores.base.GraphStore`), chosen by ``[kg] backend``.

- ``networkx``: the embedded in-memory graph (:mod:`kg.stores.networkx`), the default;
- ``oxigraph``: pyoxigraph's on-disk RDF store under LODESTAR_HOME (:mod:`kg.stores.oxigraph`);
- ``sparql``: any SPARQL 1.1 endpoint, read-only (:mod:`kg.stores.sparql`).
The RDF backends share their queries (:mod:`kg.stores.rdf`); only where a query runs differs.
"""
