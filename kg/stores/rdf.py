"""Think-on-Graph's searches as SPARQL, shared by the oxigraph and the remote-endpoint backends.

In the spirit of ToG's ``freebase_func.py`` (ALGORITHMS.md §2): the relations around an entity in both
directions, and the entities reached through a (entity, relation) pair — here batched with ``VALUES`` over the
whole frontier of a depth, so one depth costs two queries, not one per entity. Label predicates are names, not
relations: they are filtered out of the relation search and fetched alongside the entities they name.

Entity ids are N-Triples terms (``<http://…>``, ``"literal"@en``, ``_:b0``). Terms that come back from an endpoint
are re-serialised by :func:`term_from_json`, which refuses anything that could break out of a query, so ids can be
put into later queries as they are. Blank nodes cannot be named in a query, so they are never expanded.
"""

from __future__ import annotations

import re
from typing import Any

from kg.loaders import _ALT_LABELS, _LABELS, _literal, local_name
from kg.store import UNNAMED, normalize
from kg.stores.base import GraphStats, Neighbourhood, group
from kg.stores.labels import LabelIndex

Row = dict[str, str | None]

BATCH = 50  # entities (or entity-relation pairs) per VALUES block
NEIGHBOUR_LIMIT = 20_000  # rows per neighbour query: ToG samples wide fans anyway
LABEL_PREDICATES = sorted(_LABELS)
ALT_PREDICATES = sorted(_ALT_LABELS)
RDFS_LABEL = "http://www.w3.org/2000/01/rdf-schema#label"
SKOS_ALT = "http://www.w3.org/2004/02/skos/core#altLabel"
_NAME_PATH = "|".join(f"<{p}>" for p in LABEL_PREDICATES)
_ANY_LABEL_PATH = "|".join(f"<{p}>" for p in LABEL_PREDICATES + ALT_PREDICATES)
_NOT_LABELS = ", ".join(f"<{p}>" for p in LABEL_PREDICATES + ALT_PREDICATES)
_SAFE_IRI = re.compile(r"[^<>\"{}|^`\\\x00-\x20]*")
_LANG = re.compile(r"[A-Za-z]+(?:-[A-Za-z0-9]+)*")


def iri(value: str) -> str:
    return f"<{value}>"


def literal(value: str, lang: str | None = None, datatype: str | None = None) -> str:
    body = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    if lang:
        return f'"{body}"@{lang}'
    if datatype and datatype != "http://www.w3.org/2001/XMLSchema#string":
        return f'"{body}"^^<{datatype}>'
    return f'"{body}"'


def term_from_json(binding: dict[str, Any]) -> str | None:
    """A SPARQL JSON results binding as an N-Triples term, or None when it is unsafe or unknown."""
    kind, value = binding.get("type"), binding.get("value")
    if not isinstance(value, str):
        return None
    if kind == "uri":
        return iri(value) if _SAFE_IRI.fullmatch(value) else None
    if kind in ("literal", "typed-literal"):
        lang = binding.get("xml:lang")
        if lang is not None and not (isinstance(lang, str) and _LANG.fullmatch(lang)):
            return None
        datatype = binding.get("datatype")
        if datatype is not None and not (isinstance(datatype, str) and _SAFE_IRI.fullmatch(datatype)):
            return None
        return literal(value, lang, datatype)
    if kind == "bnode":
        return f"_:{re.sub(r'[^A-Za-z0-9_]', '_', value)}"
    return None


def term_text(term: str) -> str:
    """What a term says: a literal's text, an IRI's local name (spaces for underscores), blank nodes unnamed."""
    if term.startswith('"'):
        return _literal(term)[0]
    if term.startswith("<"):
        return local_name(term[1:-1], spaces=True)
    return UNNAMED


def _preferred(lang_term: str | None) -> int:
    """Sort key for labels: untagged or English first."""
    if not lang_term or not lang_term.startswith('"'):
        return 2
    lang = _literal(lang_term)[1]
    return 0 if lang is None or lang == "en" or lang.startswith("en-") else 1


def _values(terms: list[str]) -> str:
    return " ".join(terms)


class RdfStore:
    """A :class:`GraphStore` over any SPARQL :meth:`select`; ``labels`` is a local label index when there is one."""

    backend = "rdf"

    def __init__(self, *, labels: LabelIndex | None, location: str) -> None:
        self.labels = labels
        self.location = location
        self._names: dict[str, str] = {}

    async def select(self, query: str) -> list[Row]:
        """Run one SELECT; each row maps variables to N-Triples terms (None when unbound)."""
        raise NotImplementedError

    @property
    def revision(self) -> str:
        return self.labels.revision() if self.labels is not None else self.location

    # -- names --------------------------------------------------------------------------------------------------

    def _remember(self, node: str, label: str) -> None:
        if len(self._names) > 200_000:
            self._names.clear()
        self._names.setdefault(node, label)

    def name(self, node: str) -> str:
        known = self._names.get(node)
        if known is not None:
            return known
        if self.labels is not None and node.startswith("<"):
            label = self.labels.name(node)
            if label is not None:
                self._remember(node, label)
                return label
        return term_text(node)

    def has_name(self, node: str) -> bool:
        return not node.startswith("_:")

    def relation_name(self, relation: str) -> str:
        return local_name(relation[1:-1], spaces=False) if relation.startswith("<") else relation

    # -- ToG's searches -----------------------------------------------------------------------------------------

    async def relations(self, nodes: list[str]) -> dict[str, tuple[list[str], list[str]]]:
        usable = [n for n in dict.fromkeys(nodes) if not n.startswith("_:")]
        out: dict[str, tuple[set[str], set[str]]] = {n: (set(), set()) for n in usable}
        for start in range(0, len(usable), BATCH):
            chunk = usable[start : start + BATCH]
            rows = await self.select(
                "SELECT DISTINCT ?e ?r ?d WHERE { VALUES ?e { " + _values(chunk) + " } "
                '{ ?e ?r ?x . BIND("out" AS ?d) } UNION { ?x ?r ?e . BIND("in" AS ?d) } '
                f"FILTER(?r NOT IN ({_NOT_LABELS})) }}"
            )
            for row in rows:
                e, r, d = row.get("e"), row.get("r"), row.get("d")
                if e in out and r:
                    out[e][0 if d and "out" in d else 1].add(r)
        return {n: (sorted(h), sorted(t)) for n, (h, t) in out.items()}

    async def neighbours(self, requests: list[tuple[str, str, bool]]) -> list[list[str]]:
        found: dict[tuple[str, str, bool], dict[str, int]] = {}  # request -> node -> label preference
        for head in (True, False):
            pairs = list(dict.fromkeys((n, r) for n, r, h in requests if h is head and not n.startswith("_:")))
            pattern = "?e ?r ?x" if head else "?x ?r ?e"
            for start in range(0, len(pairs), BATCH):
                chunk = pairs[start : start + BATCH]
                rows = await self.select(
                    "SELECT ?e ?r ?x ?l WHERE { VALUES (?e ?r) { "
                    + " ".join(f"({n} {r})" for n, r in chunk)
                    + f" }} {pattern} . OPTIONAL {{ ?x {_NAME_PATH} ?l }} }} LIMIT {NEIGHBOUR_LIMIT}"
                )
                for row in rows:
                    e, r, x = row.get("e"), row.get("r"), row.get("x")
                    if not (e and r and x):
                        continue
                    nodes = found.setdefault((e, r, head), {})
                    label = row.get("l")
                    rank = _preferred(label)
                    if label and (x not in nodes or rank < nodes[x]):
                        self._names[x] = _literal(label)[0]
                    nodes[x] = min(rank, nodes.get(x, 3))
        result: list[list[str]] = []
        for request in requests:
            ordered = sorted(found.get(request, {}), key=lambda x: (self.name(x), x))
            result.append(ordered)
        return result

    # -- linking ------------------------------------------------------------------------------------------------

    async def _exists(self, node: str) -> bool:
        rows = await self.select(f"SELECT ?p WHERE {{ {{ {node} ?p ?o }} UNION {{ ?s ?p {node} }} }} LIMIT 1")
        return bool(rows)

    async def lookup(self, text: str) -> list[str]:
        text = text.strip()
        if text.startswith(("http://", "https://")) and _SAFE_IRI.fullmatch(text):
            if await self._exists(iri(text)):
                return [iri(text)]
        id_iri = self.id_iri(text)
        if id_iri is not None and await self._exists(id_iri):
            return [id_iri]
        key = normalize(text)
        return (await self.match_labels([(key, text)])).get(key, [])

    def id_iri(self, text: str) -> str | None:
        """The IRI a source id would have in this store (the Lodestar namespace), if it has one."""
        return None

    async def match_labels(self, spans: list[tuple[str, str]]) -> dict[str, list[str]]:
        if self.labels is not None:
            return self.labels.lookup_many([k for k, _ in spans])
        # No local index: the endpoint answers, through its own index on literal labels as written.
        variants: dict[str, str] = {}
        for key, surface in spans:
            for form in dict.fromkeys((surface, key, surface.title())):
                if form:
                    variants[literal(form)] = key
                    variants[literal(form, "en")] = key
        found: dict[str, list[str]] = {}
        items = list(variants)
        for start in range(0, len(items), BATCH * 4):
            chunk = items[start : start + BATCH * 4]
            rows = await self.select(
                "SELECT ?l ?e WHERE { VALUES ?l { " + _values(chunk) + f" }} ?e {_ANY_LABEL_PATH} ?l }}"
            )
            for row in rows:
                lab, e = row.get("l"), row.get("e")
                if not (lab and e):
                    continue
                key = normalize(_literal(lab)[0])
                if key in dict.fromkeys(k for k, _ in spans) and e not in found.setdefault(key, []):
                    found[key].append(e)
        return found

    async def fuzzy(self, text: str, cutoff: float, limit: int = 1) -> list[tuple[str, float]]:
        return self.labels.fuzzy(text, cutoff, limit) if self.labels is not None else []

    async def suggest(self, text: str, limit: int) -> list[str]:
        if self.labels is None:
            return []
        keys = [k for k, _ in self.labels.fuzzy(normalize(text), 60, limit * 3, scorer="wratio")]
        names: list[str] = []
        for key in keys:
            for node in self.labels.lookup_many([key]).get(key, []):
                if (shown := self.name(node)) not in names:
                    names.append(shown)
        return names[:limit]

    async def by_degree(self, nodes: list[str]) -> list[str]:
        usable = [n for n in nodes if not n.startswith("_:")]
        if len(usable) < 2:
            return nodes
        rows = await self.select(
            "SELECT ?e (COUNT(*) AS ?c) WHERE { VALUES ?e { "
            + _values(usable[:BATCH])
            + " } { ?e ?p ?o } UNION { ?s ?p ?e } } GROUP BY ?e"
        )
        degree = {row["e"]: int(term_text(row["c"] or '"0"')) for row in rows if row.get("e")}
        return sorted(nodes, key=lambda n: -degree.get(n, 0))

    async def entity_names(self, limit: int) -> list[tuple[str, str]] | None:
        return self.labels.named(limit) if self.labels is not None else None

    # -- inspection ---------------------------------------------------------------------------------------------

    async def stats(self) -> GraphStats:
        total = await self.select(f"SELECT (COUNT(*) AS ?n) WHERE {{ ?s ?p ?o FILTER(?p NOT IN ({_NOT_LABELS})) }}")
        top = await self.select(
            f"SELECT ?p (COUNT(*) AS ?c) WHERE {{ ?s ?p ?o FILTER(?p NOT IN ({_NOT_LABELS})) }} "
            "GROUP BY ?p ORDER BY DESC(?c) LIMIT 15"
        )
        distinct = await self.select(
            f"SELECT (COUNT(DISTINCT ?p) AS ?n) WHERE {{ ?s ?p ?o FILTER(?p NOT IN ({_NOT_LABELS})) }}"
        )
        entities, aliases = self.labels.count() if self.labels is not None else (None, None)
        return GraphStats(
            backend=self.backend,
            entities=entities,
            triples=int(term_text(total[0]["n"] or '"0"')) if total else 0,
            relations=int(term_text(distinct[0]["n"] or '"0"')) if distinct else 0,
            aliases=aliases,
            location=self.location,
            top_relations=[
                (self.relation_name(row["p"] or ""), int(term_text(row["c"] or '"0"'))) for row in top if row.get("p")
            ],
            sources=self.sources(),
        )

    def sources(self) -> list[dict[str, object]]:
        return []

    async def neighbourhood(self, node: str) -> Neighbourhood:
        around = (await self.relations([node])).get(node, ([], []))
        requests = [(node, r, True) for r in around[0]] + [(node, r, False) for r in around[1]]
        lists = await self.neighbours(requests)
        if self.labels is not None:
            aliases = self.labels.aliases(node)
        else:
            rows = await self.select(
                f"SELECT ?l WHERE {{ {node} {'|'.join(f'<{p}>' for p in ALT_PREDICATES)} ?l }} LIMIT 50"
            )
            aliases = sorted({_literal(lab)[0] for r in rows if (lab := r.get("l"))})
        shown_id = node[1:-1] if node.startswith("<") else node  # an identifier, shown once beside the name
        shown = Neighbourhood(id=shown_id, name=self.name(node), aliases=aliases)
        for (_, relation, head), nodes in zip(requests, lists, strict=True):
            names, more = group([self.name(n) for n in nodes])
            name = self.relation_name(relation)
            (shown.outgoing if head else shown.incoming)[name] = names
            if more:
                shown.more[f"{'→' if head else '←'}{name}"] = more
        return shown

    async def aclose(self) -> None:
        return None
