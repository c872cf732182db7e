"""``kg load`` / ``kg rebuild`` / ``kg reset`` for whichever backend ``[kg] backend`` names (the TUI loads too).

A loader merges files and then commits: networkx saves its graph file, oxigraph has written as it went. The
SPARQL backend is read-only: load the graph into the endpoint itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Protocol

from agent.core.config import Settings
from agent.core.errors import BadInputError
from kg.graphfile import read_sources
from kg.ingest import LoadReport, load_aliases, load_triples
from kg.store import graph_dir, open_or_new


class Loader(Protocol):
    def load_file(self, path: Path, fmt: str | None, *, strict: bool) -> LoadReport: ...

    def load_aliases(self, path: Path, *, strict: bool) -> LoadReport: ...

    def commit(self) -> str:
        """Make the loads durable; a one-line summary of the graph."""
        ...


class NetworkxLoader:
    def __init__(self, directory: Path, *, fresh: bool = False) -> None:
        from kg.store import KnowledgeGraph

        self.directory = directory
        self.graph = KnowledgeGraph() if fresh else open_or_new(directory.parent)

    def load_file(self, path: Path, fmt: str | None, *, strict: bool) -> LoadReport:
        return load_triples(self.graph, path, fmt, strict=strict)

    def load_aliases(self, path: Path, *, strict: bool) -> LoadReport:
        return load_aliases(self.graph, path, strict=strict)

    def commit(self) -> str:
        saved = self.graph.save(self.directory)
        g = self.graph
        relations = len(g.relation_counts())
        return f"graph: {len(g)} entities, {g.num_triples} triples, {relations} relations (saved to {saved})"


class OxigraphLoader:
    def __init__(self, directory: Path) -> None:
        from kg.stores.oxigraph import OxigraphStore

        self.store = OxigraphStore.open(directory, create=True)

    def load_file(self, path: Path, fmt: str | None, *, strict: bool) -> LoadReport:
        return self.store.load_file(path, fmt, strict=strict)

    def load_aliases(self, path: Path, *, strict: bool) -> LoadReport:
        return self.store.load_aliases(path, strict=strict)

    def commit(self) -> str:
        self.store.store.flush()
        entities, aliases = self.store.index.count()
        return f"graph: {entities} labelled entities, {aliases} aliases (oxigraph store in {self.store.location})"


def loader(settings: Settings, *, fresh: bool = False) -> Loader:
    directory = graph_dir(settings.home)
    if settings.kg.backend == "sparql":
        raise BadInputError(
            "kg.backend = 'sparql' is read-only: load the graph into the SPARQL endpoint itself "
            "(for oxigraph: `oxigraph load --location DIR --file FILE`)"
        )
    if settings.kg.backend == "oxigraph":
        return OxigraphLoader(directory)
    return NetworkxLoader(directory, fresh=fresh)


def reset(settings: Settings) -> bool:
    """Delete the local graph (file, store, label index, recorded sources, caches); False when there was none."""
    directory = graph_dir(settings.home)
    if not directory.exists():
        return False
    from kg.stores.oxigraph import OxigraphStore

    OxigraphStore.forget(directory)
    shutil.rmtree(directory)
    return True


def rebuild(settings: Settings) -> tuple[list[LoadReport], str]:
    """Load every recorded source again, in order, into a fresh graph; a missing file stops it before any load."""
    directory = graph_dir(settings.home)
    sources = read_sources(directory)
    if not sources:
        raise BadInputError(f"no recorded sources under {directory}: `lodestar kg reset`, then `lodestar kg load FILE`")
    missing = [str(s["file"]) for s in sources if not Path(str(s["file"])).is_file()]
    if missing:
        raise BadInputError(
            f"cannot rebuild the graph: {missing[0]} is gone"
            + (f" (and {len(missing) - 1} more sources)" if len(missing) > 1 else "")
            + "; `lodestar kg reset`, then `lodestar kg load FILE`"
        )
    reset(settings)
    target = loader(settings, fresh=True)
    reports = []
    for source in sources:
        path, fmt = Path(str(source["file"])), str(source.get("format") or "") or None
        if fmt == "aliases":
            reports.append(target.load_aliases(path, strict=False))
        else:
            reports.append(target.load_file(path, fmt, strict=False))
    return reports, target.commit()
