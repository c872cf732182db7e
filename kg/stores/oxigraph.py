"""The ``oxigraph`` backend: pyoxigraph's on-disk RDF store under ``LODESTAR_HOME/graph/oxigraph``, for graphs
larger than memory, plus the SQLite label index next to it (:mod:`kg.stores.labels`).

Loading is bulk: TSV, CSV and JSONL records (the same readers, the same malformed-line reports as networkx) become
IRIs under the Lodestar namespace with ``rdfs:label`` s, written with ``bulk_extend`` in chunks; N-Triples and
Turtle are checked in one parse pass (collecting labels for the index) and then bulk-loaded as they are. Queries
are the shared SPARQL of :mod:`kg.stores.rdf`, run in a worker thread.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyoxigraph as ox

from agent.core.errors import BadInputError, LodestarError
from kg import graphfile
from kg.ingest import LoadReport, Problem
from kg.loaders import _ALT_LABELS, _LABELS, Format, Malformed, detect_format, local_name, read_aliases, read_triples
from kg.store import NO_GRAPH
from kg.stores.labels import LABELS_FILE, LabelIndex
from kg.stores.rdf import RDFS_LABEL, SKOS_ALT, RdfStore, Row, iri

NAMESPACE = "http://lodestar.invalid/kg/"
ENTITY_NS = NAMESPACE + "entity/"
RELATION_NS = NAMESPACE + "relation/"
STORE_DIR = "oxigraph"
CHUNK = 100_000
_RDF_FORMATS = {"nt": ox.RdfFormat.N_TRIPLES, "ttl": ox.RdfFormat.TURTLE}
_OPEN: dict[str, tuple[ox.Store, LabelIndex]] = {}  # one handle per store per process (the store is locked)
_LOCK = threading.Lock()


def entity_iri(source_id: str) -> str:
    return ENTITY_NS + quote(source_id, safe="")


def relation_iri(relation: str) -> str:
    return RELATION_NS + quote(relation, safe="")


class OxigraphStore(RdfStore):
    backend = "oxigraph"

    def __init__(self, directory: Path, store: ox.Store, labels: LabelIndex) -> None:
        super().__init__(labels=labels, location=str(directory / STORE_DIR))
        self.directory = directory
        self.store = store
        self.index = labels

    @classmethod
    def open(cls, directory: Path, *, create: bool) -> OxigraphStore:
        path = directory / STORE_DIR
        if not create and not path.is_dir():
            raise BadInputError(NO_GRAPH)
        with _LOCK:
            handles = _OPEN.get(str(path))
            if handles is None:
                try:
                    path.mkdir(parents=True, exist_ok=True)
                    handles = (ox.Store(str(path)), LabelIndex(directory / LABELS_FILE))
                except OSError as exc:
                    if "lock" in str(exc).lower():
                        raise LodestarError(
                            f"{path}: the graph store is in use by another Lodestar process; try again when it ends"
                        ) from None
                    raise BadInputError(
                        f"{path}: cannot open the graph store ({' '.join(str(exc).split())[:160]}); "
                        f"`{graphfile.REBUILD}` or `{graphfile.RESET}`"
                    ) from None
                _OPEN[str(path)] = handles
        return cls(directory, *handles)

    @staticmethod
    def forget(directory: Path) -> None:
        """Drop the cached handles (before ``kg reset`` deletes the folder)."""
        with _LOCK:
            handles = _OPEN.pop(str(directory / STORE_DIR), None)
        if handles is not None:
            handles[1].close()
        del handles
        gc.collect()  # the store closes (and unlocks) when its last reference goes

    def _select_sync(self, query: str) -> list[Row]:
        results: Any = self.store.query(query)
        names = [v.value for v in results.variables]
        return [{n: (None if (t := s[n]) is None else str(t)) for n in names} for s in results]

    async def select(self, query: str) -> list[Row]:
        return await asyncio.to_thread(self._select_sync, query)

    def id_iri(self, text: str) -> str | None:
        return iri(entity_iri(text))

    def sources(self) -> list[dict[str, object]]:
        return list(graphfile.read_sources(self.directory) or [])

    def _record_source(self, path: Path, fmt: str, added: int) -> None:
        sources = self.sources()
        sources.append({"file": str(path.resolve()), "format": fmt, "added": added, "at": time.time()})
        graphfile.write_sources(self.directory, sources)

    # -- loading ------------------------------------------------------------------------------------------------

    def load_file(self, path: Path, fmt: str | None = None, *, strict: bool = False) -> LoadReport:
        if not path.is_file():
            raise BadInputError(f"{path}: no such file")
        chosen = detect_format(path, fmt)
        started = time.perf_counter()
        report = LoadReport(file=str(path), format=chosen)
        try:
            if chosen in _RDF_FORMATS:
                self._load_rdf(path, chosen, report)
            else:
                self._load_records(path, chosen, report, strict=strict)
        except UnicodeDecodeError as exc:
            raise BadInputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        report.seconds = round(time.perf_counter() - started, 3)
        if report.usable:
            self._record_source(path, chosen, report.added)
        return report

    def _load_records(self, path: Path, fmt: Format, report: LoadReport, *, strict: bool) -> None:
        if strict:  # check the whole file before the store is touched
            first = next((r for r in read_triples(path, fmt) if isinstance(r, Malformed)), None)
            if first is not None:
                raise BadInputError(f"{path}:{first.line}: {first.reason} (--strict)")
        label = ox.NamedNode(RDFS_LABEL)
        graph = ox.DefaultGraph()
        entities: dict[str, ox.NamedNode] = {}
        relations: dict[str, ox.NamedNode] = {}
        quads: list[ox.Quad] = []
        pending: set[ox.Quad] = set()  # this chunk's triples, not yet in the store
        rows: list[tuple[str, str, bool]] = []

        def entity(source_id: str, name: str) -> ox.NamedNode:
            node = entities.get(source_id)
            if node is None:
                node = entities[source_id] = ox.NamedNode(entity_iri(source_id))
                if len(entities) > 2_000_000:
                    entities.clear()  # bounded memory; a repeated label quad is merged by the store
                if name:
                    quads.append(ox.Quad(node, label, ox.Literal(name), graph))
                    rows.append((str(node), name, True))
                if source_id != name:
                    rows.append((str(node), source_id, False))
            return node

        def flush() -> None:
            self.store.bulk_extend(quads)
            self.index.add(rows)
            quads.clear()
            rows.clear()
            pending.clear()

        for record in read_triples(path, fmt):
            if isinstance(record, Malformed):
                report.malformed.append(Problem(file=str(path), line=record.line, reason=record.reason))
                continue
            if record.kind != "triple":
                continue
            head = entity(record.head_id or record.head, record.head)
            tail = entity(record.tail_id or record.tail, record.tail)
            relation = relations.get(record.relation)
            if relation is None:
                relation = relations[record.relation] = ox.NamedNode(relation_iri(record.relation))
            quad = ox.Quad(head, relation, tail, graph)
            if quad in pending or quad in self.store:  # a point lookup: duplicates are counted, as in networkx
                report.duplicates += 1
                continue
            pending.add(quad)
            quads.append(quad)
            report.added += 1
            if len(quads) >= CHUNK:
                flush()
        flush()

    def _load_rdf(self, path: Path, fmt: str, report: LoadReport) -> None:
        """One parse pass (labels for the index; a syntax error stops before anything is stored), then bulk load."""
        rows: list[tuple[str, str, bool]] = []
        seen: set[str] = set()
        named: set[str] = set()
        try:
            for triple in ox.parse(path=str(path), format=_RDF_FORMATS[fmt]):
                subject, predicate, obj = triple.subject, triple.predicate.value, triple.object
                report.added += 1
                if isinstance(obj, ox.Literal) and (predicate in _LABELS or predicate in _ALT_LABELS):
                    preferred = predicate in _LABELS and str(subject) not in named
                    if preferred:
                        named.add(str(subject))
                    rows.append((str(subject), obj.value, preferred))
                    continue
                for node in (subject, obj):
                    if isinstance(node, ox.NamedNode) and str(node) not in seen:
                        seen.add(str(node))
                        rows.append((str(node), local_name(node.value, spaces=True), False))
        except SyntaxError as exc:
            line = getattr(exc, "lineno", None)
            where = f"{path}:{line}" if line else str(path)
            raise BadInputError(
                f"{where}: not valid {fmt} ({' '.join(str(exc).split())[:200]}); nothing loaded"
            ) from None
        self.store.bulk_load(path=str(path), format=_RDF_FORMATS[fmt])
        # local names index entities without a label; a later rdfs:label wins as the name
        self.index.add([(n, lab, p) for n, lab, p in rows if p or n not in named or lab])

    def load_aliases(self, path: Path, *, strict: bool = False) -> LoadReport:
        """``entity<TAB>alias`` lines, resolved through the label index; skos:altLabel in the store."""
        if not path.is_file():
            raise BadInputError(f"{path}: no such file")
        report = LoadReport(file=str(path), format="aliases")
        alt = ox.NamedNode(SKOS_ALT)
        quads, rows = [], []
        from kg.store import normalize

        for record in read_aliases(path):
            if isinstance(record, Malformed):
                problem = record
            else:
                matches = self.index.lookup_many([normalize(record.head)]).get(normalize(record.head), [])
                if len(matches) == 1:
                    node = matches[0]
                    quads.append(ox.Quad(ox.NamedNode(node[1:-1]), alt, ox.Literal(record.tail), ox.DefaultGraph()))
                    rows.append((node, record.tail, False))
                    continue
                problem = Malformed(
                    record.line,
                    f"unknown entity {record.head!r}" if not matches else f"ambiguous entity {record.head!r}",
                )
            if strict:
                raise BadInputError(f"{path}:{problem.line}: {problem.reason} (--strict)")
            report.malformed.append(Problem(file=str(path), line=problem.line, reason=problem.reason))
        self.store.bulk_extend(quads)
        report.aliases_added = self.index.add(rows)
        if report.usable:
            self._record_source(path, "aliases", report.aliases_added)
        return report
