"""The graph store: (head, relation, tail) triples in a networkx MultiDiGraph, with names, aliases and a name index.

Nodes are entity ids (the name itself when the source gives no id) with a ``name`` attribute (absent for blank
nodes, shown as ``UnName_Entity`` as in ToG) and optional ``aliases``. Edges are keyed by their relation, so a
repeated (head, relation, tail) is found in O(1) and never stored twice: loads merge. The store persists under
``LODESTAR_HOME/graph`` in a format whose loading cannot run code (:mod:`kg.graphfile`).

Bulk loading writes networkx's adjacency dicts directly (the structure ``MultiDiGraph.add_edge`` builds, without
its per-call overhead), and every edge of one relation shares one read-only attribute dict ``{"relation": r}``:
a third less memory and a smaller file at a million triples. Never mutate edge attributes in place.
"""

from __future__ import annotations

import gc
import re
import time
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from agent.core.errors import BadInputError
from kg import graphfile

GRAPH_FILE = graphfile.GRAPH_FILE
UNNAMED = "UnName_Entity"
NO_GRAPH = "no graph loaded: run `lodestar kg load FILE`"

_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalize(text: str) -> str:
    """Lower-case, accent-free, punctuation-free form used to match names and aliases."""
    if text.isascii():
        return _NON_WORD.sub(" ", text.lower()).strip()
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return _NON_WORD.sub(" ", plain).strip()


@dataclass(frozen=True, slots=True)
class Triple:
    """One edge, by entity *names* (what prompts, traces and citations show)."""

    head: str
    relation: str
    tail: str

    @property
    def id(self) -> str:
        return f"{self.head}|{self.relation}|{self.tail}"

    def text(self) -> str:
        return f"{self.head} —{self.relation}→ {self.tail}"

    def as_list(self) -> list[str]:
        return [self.head, self.relation, self.tail]


class KnowledgeGraph:
    """A MultiDiGraph plus a normalised-name index; every mutation goes through here so the index stays true."""

    def __init__(
        self,
        graph: nx.MultiDiGraph | None = None,
        index: dict[str, Any] | None = None,
        *,
        revision: str | None = None,
        sources: list[dict[str, Any]] | None = None,
    ) -> None:
        self.g: nx.MultiDiGraph = graph if graph is not None else nx.MultiDiGraph()
        self._index: dict[str, Any] = index if index is not None else {}  # normalised -> id | tuple of ids
        self.revision = revision or uuid.uuid4().hex
        self.sources: list[dict[str, Any]] = sources or []
        self._relations_cache: dict[tuple[str, bool], dict[str, list[str]]] = {}
        self._edge_data: dict[str, dict[str, str]] = {}  # relation -> the shared, read-only edge attribute dict

    # -- building -----------------------------------------------------------------------------------------------

    def _index_add(self, key: str, node: str) -> None:
        if not key:
            return
        current = self._index.get(key)
        if current is None:
            self._index[key] = node
        elif isinstance(current, tuple):
            if node not in current:
                self._index[key] = (*current, node)
        elif current != node:
            self._index[key] = (current, node)

    def ensure_entity(self, node: str, name: str | None = None) -> None:
        """Add ``node`` if new; a different later name becomes an alias (the first name stays the name)."""
        g = self.g
        attrs = g._node.get(node)
        if attrs is None:
            g._succ[node] = {}
            g._pred[node] = {}
            g._node[node] = {} if name is None else {"name": name}
            if name is not None:
                self._index_add(normalize(name), node)
            if name != node:
                self._index_add(normalize(node), node)
            return
        if name is None:
            return
        current = attrs.get("name")
        if current is None:
            attrs["name"] = name
            self._index_add(normalize(name), node)
        elif current != name:
            self.add_alias(node, name)

    def set_name(self, node: str, name: str) -> None:
        """Give ``node`` a preferred name (an N-Triples label); the old name is kept as an alias."""
        self.ensure_entity(node)
        attrs = self.g._node[node]
        old = attrs.get("name")
        if old == name:
            return
        attrs["name"] = name
        self._index_add(normalize(name), node)
        if old is not None:
            self.add_alias(node, old)

    def add_alias(self, node: str, alias: str) -> bool:
        attrs = self.g._node[node]
        aliases: list[str] = attrs.setdefault("aliases", [])
        if alias in aliases or alias == attrs.get("name"):
            return False
        aliases.append(alias)
        self._index_add(normalize(alias), node)
        return True

    def add_triple(
        self, head: str, relation: str, tail: str, head_name: str | None = None, tail_name: str | None = None
    ) -> bool:
        """Add one edge between entity ids; False when that exact (head, relation, tail) is already there."""
        g = self.g
        nodes = g._node
        attrs = nodes.get(head)
        if attrs is None or (head_name is not None and attrs.get("name") != head_name):
            self.ensure_entity(head, head_name)
        attrs = nodes.get(tail)
        if attrs is None or (tail_name is not None and attrs.get("name") != tail_name):
            self.ensure_entity(tail, tail_name)
        keyed = g._succ[head].get(tail)
        if keyed is None:
            keyed = g._succ[head][tail] = {}
            g._pred[tail][head] = keyed
        elif relation in keyed:
            return False
        data = self._edge_data.get(relation)
        if data is None:
            data = self._edge_data[relation] = {"relation": relation}
        keyed[relation] = data
        if self._relations_cache:
            self._relations_cache.pop((head, True), None)
            self._relations_cache.pop((tail, False), None)
        return True

    def touch(self) -> None:
        """Mark the graph as changed (new revision: derived caches such as name embeddings are rebuilt)."""
        self.revision = uuid.uuid4().hex
        self._relations_cache.clear()
        nx._clear_cache(self.g)  # what add_edge would have done; we wrote the adjacency directly

    # -- reading ------------------------------------------------------------------------------------------------

    def __contains__(self, node: object) -> bool:
        return node in self.g

    def __len__(self) -> int:
        return self.g.number_of_nodes()

    @property
    def num_triples(self) -> int:
        return self.g.number_of_edges()

    def name(self, node: str) -> str:
        return self.g._node[node].get("name") or UNNAMED

    def has_name(self, node: str) -> bool:
        return bool(self.g._node[node].get("name"))

    def aliases(self, node: str) -> list[str]:
        return list(self.g._node[node].get("aliases", ()))

    def lookup(self, text: str) -> list[str]:
        """Entity ids whose id, name or alias matches ``text`` (exact id first, then normalised)."""
        if text in self.g:
            return [text]
        found = self._index.get(normalize(text))
        if found is None:
            return []
        return list(found) if isinstance(found, tuple) else [found]

    def lookup_normalized(self, key: str) -> list[str]:
        found = self._index.get(key)
        if found is None:
            return []
        return list(found) if isinstance(found, tuple) else [found]

    def index_keys(self) -> Iterable[str]:
        return self._index.keys()

    def _adjacent(self, node: str, head: bool) -> dict[str, list[str]]:
        """relation -> neighbour ids, for out-edges (``head``: ``node`` is the head) or in-edges; cached."""
        key = (node, head)
        cached = self._relations_cache.get(key)
        if cached is not None:
            return cached
        table: dict[str, list[str]] = {}
        adjacency = self.g._succ[node] if head else self.g._pred[node]
        for other, keyed in adjacency.items():
            for relation in keyed:
                table.setdefault(relation, []).append(other)
        if len(self._relations_cache) > 50_000:
            self._relations_cache.clear()
        self._relations_cache[key] = table
        return table

    def relations(self, node: str) -> tuple[list[str], list[str]]:
        """(relations where ``node`` is the head, relations where it is the tail), each sorted."""
        return sorted(self._adjacent(node, True)), sorted(self._adjacent(node, False))

    def neighbours(self, node: str, relation: str, head: bool) -> list[str]:
        """Tails of ``node --relation-->`` when ``head``, else heads of ``--relation--> node``."""
        return list(self._adjacent(node, head).get(relation, ()))

    def triple(self, head: str, relation: str, tail: str) -> Triple:
        return Triple(self.name(head), relation, self.name(tail))

    def relation_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for _, _, relation in self.g.edges(keys=True):
            counts[relation] = counts.get(relation, 0) + 1
        return counts

    def entity_names(self) -> list[tuple[str, str]]:
        """(id, name) of every named entity, in node order."""
        return [(node, attrs["name"]) for node, attrs in self.g.nodes(data=True) if attrs.get("name")]

    # -- persistence --------------------------------------------------------------------------------------------

    def _payload(self) -> dict[str, Any]:
        """The graph as plain strings and int arrays (see :mod:`kg.graphfile`); succ order is kept."""
        g = self.g
        ids = {node: i for i, node in enumerate(g._node)}
        names = [attrs.get("name") for attrs in g._node.values()]
        aliases = {str(ids[n]): a["aliases"] for n, a in g._node.items() if a.get("aliases")}
        rel_ids: dict[str, int] = {}
        heads: list[int] = []
        rels: list[int] = []
        tails: list[int] = []
        for head, nbrs in g._succ.items():
            h = ids[head]
            for tail, keyed in nbrs.items():
                t = ids[tail]
                for relation in keyed:
                    r = rel_ids.get(relation)
                    if r is None:
                        r = rel_ids[relation] = len(rel_ids)
                    heads.append(h)
                    rels.append(r)
                    tails.append(t)
        keys: list[str] = []
        index_nodes: list[int] = []
        for key, found in self._index.items():
            for node in found if isinstance(found, tuple) else (found,):
                keys.append(key)
                index_nodes.append(ids[node])
        meta = {"revision": self.revision, "sources": self.sources, "saved_at": time.time()}
        return {
            "meta": meta,
            "nodes": list(ids),
            "names": names,
            "aliases": aliases,
            "relations": list(rel_ids),
            "index_keys": keys,
            "heads": heads,
            "rels": rels,
            "tails": tails,
            "index_nodes": index_nodes,
        }

    def save(self, directory: Path) -> Path:
        """Write atomically (temp file + rename) so a crash mid-save never leaves a broken graph behind."""
        payload = self._payload()
        path = graphfile.atomic_write(directory, GRAPH_FILE, lambda fh: graphfile.write_graph(fh, payload))
        graphfile.write_sources(directory, self.sources)
        (directory / graphfile.LEGACY_FILE).unlink(missing_ok=True)  # replaced: never read again
        _CACHE.pop(str(path), None)
        return path

    @classmethod
    def load(cls, directory: Path) -> KnowledgeGraph:
        path = directory / GRAPH_FILE
        if not path.exists() and (directory / graphfile.LEGACY_FILE).exists():
            raise graphfile.legacy_error(directory)
        try:
            payload = graphfile.read_graph(path)
        except FileNotFoundError:
            raise BadInputError(NO_GRAPH) from None
        return cls.from_payload(payload)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> KnowledgeGraph:
        nodes: list[str] = payload["nodes"]
        g = nx.MultiDiGraph()
        shared = [{"relation": r} for r in payload["relations"]]
        gc_was_enabled = gc.isenabled()
        gc.disable()  # millions of new dicts, no cycles: the collector would only rescan them again and again
        try:
            g._node.update(zip(nodes, [{} if n is None else {"name": n} for n in payload["names"]], strict=True))
            for i, aliases in payload["aliases"].items():
                g._node[nodes[int(i)]]["aliases"] = list(aliases)
            _adjacency(g, nodes, payload["heads"], payload["rels"], payload["tails"], shared)
        finally:
            if gc_was_enabled:
                gc.enable()
        index: dict[str, Any] = {}
        for key, i in zip(payload["index_keys"], payload["index_nodes"], strict=True):
            node = nodes[i]
            current = index.get(key)
            if current is None:
                index[key] = node
            else:
                index[key] = (*current, node) if isinstance(current, tuple) else (current, node)
        meta = payload["meta"]
        graph = cls(g, index, revision=meta.get("revision"), sources=meta.get("sources") or [])
        graph._edge_data = {d["relation"]: d for d in shared}
        return graph


def _groups(keys: np.ndarray) -> np.ndarray:
    """Start offsets of the runs of equal values in ``keys`` (plus the end)."""
    if not len(keys):
        return np.zeros(1, dtype=np.int64)
    return np.append(np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]), len(keys))


def _adjacency(
    g: nx.MultiDiGraph, nodes: list[str], heads: Any, rels: Any, tails: Any, shared: list[dict[str, str]]
) -> None:
    """networkx's succ/pred dicts from edges written grouped by head, then tail (as :meth:`_payload` writes
    them), built with C-level dict(zip(...)) per entity rather than one Python step per edge."""
    h, r, t = (np.asarray(a, dtype=np.int64) for a in (heads, rels, tails))
    g._succ.update((n, {}) for n in nodes)
    g._pred.update((n, {}) for n in nodes)
    if not len(h):
        return
    pair_keys = h * len(nodes) + t
    starts = _groups(pair_keys)
    first = starts[:-1]
    keyed = [{shared[x]["relation"]: shared[x]} for x in r[first].tolist()]
    for p in np.flatnonzero(np.diff(starts) > 1).tolist():  # a pair with several relations
        for x in r[starts[p] + 1 : starts[p + 1]].tolist():
            keyed[p][shared[x]["relation"]] = shared[x]
    pair_h, pair_t = h[first], t[first]
    names = np.array(nodes, dtype=object)
    tail_names = names[pair_t].tolist()
    bounds = _groups(pair_h).tolist()
    owners = names[pair_h[bounds[:-1]]].tolist()
    succ, pred = g._succ, g._pred
    for owner, a, b in zip(owners, bounds[:-1], bounds[1:], strict=True):
        succ[owner] = dict(zip(tail_names[a:b], keyed[a:b], strict=True))
    order = np.argsort(pair_t, kind="stable")
    by_tail = pair_t[order]
    head_names = names[pair_h[order]].tolist()
    keyed_by_tail = [keyed[i] for i in order.tolist()]
    bounds = _groups(by_tail).tolist()
    owners = names[by_tail[bounds[:-1]]].tolist()
    for owner, a, b in zip(owners, bounds[:-1], bounds[1:], strict=True):
        pred[owner] = dict(zip(head_names[a:b], keyed_by_tail[a:b], strict=True))


def graph_dir(home: Path) -> Path:
    return home / "graph"


_CACHE: dict[str, tuple[int, int, KnowledgeGraph]] = {}


def open_graph(home: Path) -> KnowledgeGraph:
    """The persisted graph, kept in memory between questions while the file is unchanged."""
    path = graph_dir(home) / GRAPH_FILE
    try:
        stat = path.stat()
    except FileNotFoundError:
        if (graph_dir(home) / graphfile.LEGACY_FILE).exists():
            raise graphfile.legacy_error(graph_dir(home)) from None
        raise BadInputError(NO_GRAPH) from None
    cached = _CACHE.get(str(path))
    if cached is not None and cached[:2] == (stat.st_mtime_ns, stat.st_size):
        return cached[2]
    graph = KnowledgeGraph.load(graph_dir(home))
    _CACHE.clear()  # one graph in memory at a time: they can be large
    _CACHE[str(path)] = (stat.st_mtime_ns, stat.st_size, graph)
    return graph


def open_or_new(home: Path) -> KnowledgeGraph:
    directory = graph_dir(home)
    if not (directory / GRAPH_FILE).exists() and not (directory / graphfile.LEGACY_FILE).exists():
        return KnowledgeGraph()
    return KnowledgeGraph.load(graph_dir(home))
