"""The same Think-on-Graph questions answered the same way — same paths, same answer, same trace — over networkx,
over the oxigraph store, and over a real ``oxigraph serve`` SPARQL endpoint loaded with the graph as N-Triples
under IRIs that are not Lodestar's own. Labels, never IRIs, reach prompts, answers and citations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent.core.config import KgSettings
from agent.core.trace import KgStep, Trace
from agent.testing.fake_openai import FakeOpenAIServer
from kg.mode import query_graph
from kg.stores.oxigraph import OxigraphStore
from kg.stores.sparql import SparqlStore
from tests.kg.oxigraph_server import OxigraphServer
from tests.kg_fixtures import NAVIGATION, Explorer, build_graph

EX = "http://example.org/"
LABEL = "http://www.w3.org/2000/01/rdf-schema#label"


def as_ntriples(path: Path) -> Path:
    """NAVIGATION under example.org IRIs: entities under id/ with rdfs:labels, years as literals."""
    lines, labelled = [], set()
    for h, r, t in NAVIGATION:
        head = f"<{EX}id/{h.replace(' ', '_')}>"
        obj = f'"{t}"' if t.isdigit() else f"<{EX}id/{t.replace(' ', '_')}>"
        lines.append(f"{head} <{EX}prop/{r}> {obj} .")
        for name, term in ((h, head), (t, obj)):
            if term.startswith("<") and term not in labelled:
                labelled.add(term)
                lines.append(f'{term} <{LABEL}> "{name}"@en .')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sparql_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OxigraphServer]:
    folder = tmp_path_factory.mktemp("oxigraph-serve")
    with OxigraphServer(as_ntriples(folder / "navigation.nt"), folder / "store") as server:
        yield server


@pytest.fixture(params=["networkx", "oxigraph", "sparql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    if request.param == "networkx":
        yield build_graph(NAVIGATION)
        return
    if request.param == "oxigraph":
        tsv = tmp_path / "navigation.tsv"
        tsv.write_text("".join(f"{h}\t{r}\t{t}\n" for h, r, t in NAVIGATION), encoding="utf-8")
        oxi = OxigraphStore.open(tmp_path / "graph", create=True)
        assert oxi.load_file(tsv).added == len(NAVIGATION)
        yield oxi
        OxigraphStore.forget(tmp_path / "graph")
        return
    server = request.getfixturevalue("sparql_server")
    remote = SparqlStore(server.url)
    yield remote
    await remote.aclose()


QUESTIONS = [
    (
        "Where was the maker of H4 born?",
        {
            "relations": ["made_by", "born_in"],
            "entities": ["John Harrison"],
            "sufficient_when": "John Harrison, born_in, Foulby",
        },
        {},
    ),
    ("Tell me about H4", {"pick_all": True}, {"width": 2, "depth": 2}),
    (
        "Where did the ships that carried H4 sail?",
        {"relations": ["carried_on", "sailed_to"], "answer": "Jamaica and Barbados"},
        {"depth": 2},
    ),
    (
        "When was [H4] completed?",
        {"relations": ["completed_in_year"], "sufficient_when": "H4, completed_in_year, 1759", "answer": "1759"},
        {"variant": "tog-r"},
    ),
]


def summary(result, trace: Trace, fake: FakeOpenAIServer) -> dict:
    steps = [e for e in trace.events if isinstance(e, KgStep)]
    return {
        "answer": result.answer,
        "short": result.short_answer,
        "paths": [[t.as_list() for t in p] for p in result.paths],
        "citations": [(c.id, c.text) for c in result.citations],
        "topics": [t.name for t in result.topic_entities],
        "steps": [(s.frontier, [(r.entity, r.relation, r.score) for r in s.relations], s.kept) for s in steps],
        "fallback": result.fallback,
        "calls": result.llm_calls,
        "prompts": [m["content"] for r in fake.chat_requests for m in r["json"]["messages"]],
    }


_REFERENCE: dict[str, dict] = {}


@pytest.mark.parametrize("number", range(len(QUESTIONS)))
async def test_same_questions_same_answers_on_every_backend(
    store, number: int, fake_server: FakeOpenAIServer, hub
) -> None:
    question, script, overrides = QUESTIONS[number]
    fake_server.reply(Explorer(**script))
    settings = KgSettings(output_format="text", link_embeddings=False, **overrides)
    trace = Trace()
    result = await query_graph(question, hub=hub, graph=store, settings=settings, trace=trace)
    got = summary(result, trace, fake_server)
    assert got["paths"] and got["topics"] == ["H4"]
    for text in (got["answer"], *(t for c in got["citations"] for t in c), *got["prompts"]):
        assert "http://" not in text and "lodestar.invalid" not in text  # labels, never IRIs
    reference = _REFERENCE.setdefault(question, build_reference(question))
    assert got == reference


def build_reference(question: str) -> dict:
    """networkx's answer, computed once per question in its own fake server, as the reference for the others."""
    import asyncio

    from agent.core.config import load_settings
    from agent.llm.hub import LLMHub
    from tests.conftest import write_config

    _, script, overrides = next(q for q in QUESTIONS if q[0] == question)

    async def run(config: Path, fake: FakeOpenAIServer) -> dict:
        async with LLMHub(load_settings(config)) as hub:
            trace = Trace()
            settings = KgSettings(output_format="text", link_embeddings=False, **overrides)
            result = await query_graph(question, hub=hub, graph=build_graph(NAVIGATION), settings=settings, trace=trace)
            return summary(result, trace, fake)

    import tempfile

    with FakeOpenAIServer() as fake, tempfile.TemporaryDirectory() as folder:
        fake.reply(Explorer(**script))
        config = write_config(Path(folder) / "lodestar.toml", fake.base_url)
        return asyncio.run_coroutine_threadsafe(run(config, fake), _side_loop()).result(timeout=60)


_LOOP = None


def _side_loop():
    """A loop in a thread, so the reference run does not nest inside the test's own loop."""
    global _LOOP
    if _LOOP is None:
        import asyncio
        import threading

        _LOOP = asyncio.new_event_loop()
        threading.Thread(target=_LOOP.run_forever, daemon=True).start()
    return _LOOP
