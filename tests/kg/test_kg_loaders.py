"""Triple readers and ingestion: formats, headers, malformed lines with numbers, --strict, merging, aliases."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.core.errors import BadInputError
from kg.ingest import load_aliases, load_triples
from kg.loaders import Malformed, Record, local_name, read_nt, read_tsv
from kg.store import UNNAMED, KnowledgeGraph


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_tsv_with_header_comments_and_malformed_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "g.tsv", "# a comment\nhead\trelation\ttail\nA\tr\tB\n\nA\tonly two\nC\t\tD\nB\tr\tC\n")
    graph = KnowledgeGraph()
    report = load_triples(graph, path)
    assert (report.added, report.duplicates) == (2, 0)
    assert [(p.line, p.reason) for p in report.malformed] == [
        (5, "expected 3 tab-separated fields as in the header, got 2"),
        (6, "empty relation"),
    ]
    assert graph.neighbours("A", "r", True) == ["B"] and graph.neighbours("C", "r", False) == ["B"]


def test_tsv_without_header_keeps_first_line_as_data(tmp_path: Path) -> None:
    records = list(read_tsv(write(tmp_path, "g.tsv", "Lodestone\tattracts\tiron\n")))
    assert records == [Record(1, "triple", "Lodestone", "attracts", "iron")]


def test_csv_with_quoted_commas_and_id_columns(tmp_path: Path) -> None:
    text = (
        "head_id,head,relation,tail_id,tail\n"
        'Q1,"Harrison, John",invented,Q2,marine chronometer\n'
        'Q1,"Harrison, John",born_in,Q3\n'
    )
    graph = KnowledgeGraph()
    report = load_triples(graph, write(tmp_path, "g.csv", text))
    assert report.added == 1 and [p.line for p in report.malformed] == [3]
    assert graph.name("Q1") == "Harrison, John" and graph.lookup("harrison john") == ["Q1"]
    assert graph.lookup("Q2") == ["Q2"] and graph.name("Q2") == "marine chronometer"


def test_jsonl_objects_lists_and_bad_lines(tmp_path: Path) -> None:
    text = (
        '{"subject": "Polaris", "predicate": "located_in", "object": "Ursa Minor"}\n'
        '["Sextant", "replaced", "Octant"]\n'
        '{"head": "H4", "relation": "made_by"}\n'
        "not json\n"
        "[1, 2]\n"
        '{"head": "Eddystone", "head_id": "e1", "relation": "lit_by", "tail": "Candles", "tail_id": "c1"}\n'
    )
    graph = KnowledgeGraph()
    report = load_triples(graph, write(tmp_path, "g.jsonl", text))
    assert report.added == 3
    assert [(p.line, p.reason.split(":")[0]) for p in report.malformed] == [
        (3, "empty tail"),
        (4, "not JSON"),
        (5, "expected [head, relation, tail], got 2 items"),
    ]
    assert graph.neighbours("e1", "lit_by", True) == ["c1"] and graph.name("e1") == "Eddystone"


def test_n_triples_iris_literals_labels_and_blank_nodes(tmp_path: Path) -> None:
    text = (
        "\n".join(
            [
                "<http://ex.org/Pedro_Nunes> <http://ex.org/ont#invented> <http://ex.org/Nonius> .",
                '<http://ex.org/Pedro_Nunes> <http://www.w3.org/2000/01/rdf-schema#label> "Pedro Nunes"@pt .',
                '<http://ex.org/Pedro_Nunes> <http://www.w3.org/2000/01/rdf-schema#label> "Petrus Nonius"@la .',
                '<http://ex.org/Nonius> <http://www.w3.org/2000/01/rdf-schema#label> "nonius"@en .',
                '<http://ex.org/Nonius> <http://www.w3.org/2004/02/skos/core#altLabel> "Nunes scale" .',
                '<http://ex.org/Pedro_Nunes> <http://ex.org/ont#born> "1502"^^<http://www.w3.org/2001/XMLSchema#gYear> .',
                "_:b1 <http://ex.org/ont#describes> <http://ex.org/Nonius> .",
                '<http://ex.org/Pedro_Nunes> <http://ex.org/ont#quote> "say \\"hi\\"\\u0021" .',
                "this is not a triple",
                "# a comment",
            ]
        )
        + "\n"
    )
    graph = KnowledgeGraph()
    report = load_triples(graph, write(tmp_path, "g.nt", text))
    assert report.added == 4 and [p.line for p in report.malformed] == [9]
    nunes = "http://ex.org/Pedro_Nunes"
    assert graph.name(nunes) == "Pedro Nunes"  # the first label (no English one was given)
    assert graph.lookup("Petrus Nonius") == [nunes] and graph.lookup("Pedro Nunes") == [nunes]
    assert graph.name("http://ex.org/Nonius") == "nonius" and graph.lookup("Nunes scale") == ["http://ex.org/Nonius"]
    assert graph.lookup("Nonius") == ["http://ex.org/Nonius"]  # the local name stays an alias
    assert graph.neighbours(nunes, "born", True) == ["1502"]
    assert graph.neighbours(nunes, "quote", True) == ['say "hi"!']
    assert graph.name("_:b1") == UNNAMED and not graph.has_name("_:b1")


def test_n_triples_malformed_lines_are_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "g.nt", '<a> <b> "unterminated .\n<a> <b> <c>\n')
    assert [r.line for r in read_nt(path) if isinstance(r, Malformed)] == [1, 2]


def test_local_names() -> None:
    assert local_name("http://dbpedia.org/resource/John_Harrison", spaces=True) == "John Harrison"
    assert local_name("http://www.w3.org/2000/01/rdf-schema#label", spaces=False) == "label"
    assert local_name("http://ex.org/caf%C3%A9/", spaces=True) == "café"


def test_strict_fails_on_the_first_malformed_line_and_adds_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, "g.tsv", "A\tr\tB\nbroken line\nC\tr\tD\n")
    graph = KnowledgeGraph()
    with pytest.raises(BadInputError, match=r"g\.tsv:2: expected 3 tab-separated fields"):
        load_triples(graph, path, strict=True)
    assert graph.num_triples == 0


def test_repeated_loads_merge_without_duplicate_edges(tmp_path: Path) -> None:
    first = write(tmp_path, "a.tsv", "A\tr\tB\nA\tr\tB\nA\ts\tB\n")
    second = write(tmp_path, "b.tsv", "A\tr\tB\nB\tr\tC\n")
    graph = KnowledgeGraph()
    one = load_triples(graph, first)
    assert (one.added, one.duplicates) == (2, 1)  # same head+relation+tail inside one file
    two = load_triples(graph, second)
    assert (two.added, two.duplicates) == (1, 1)
    again = load_triples(graph, first)
    assert (again.added, again.duplicates) == (0, 3)
    assert graph.num_triples == 3 and sorted(graph.relations("A")[0]) == ["r", "s"]


def test_aliases_resolve_entities_and_report_unknown_ones(tmp_path: Path) -> None:
    graph = KnowledgeGraph()
    load_triples(graph, write(tmp_path, "g.tsv", "H4\tmade_by\tJohn Harrison\n"))
    aliases = write(
        tmp_path,
        "aliases.tsv",
        "entity\talias\nH4\tHarrison's watch\tthe sea watch\njohn harrison\tLongitude Harrison\nNobody\tGhost\nH4\n",
    )
    report = load_aliases(graph, aliases)
    assert report.aliases_added == 3
    assert [(p.line, p.reason) for p in report.malformed] == [
        (4, "unknown entity 'Nobody'"),
        (5, "expected entity<TAB>alias"),
    ]
    assert graph.lookup("HARRISON'S WATCH") == ["H4"] and graph.lookup("longitude harrison") == ["John Harrison"]
    with pytest.raises(BadInputError, match="aliases.tsv:4: unknown entity"):
        load_aliases(graph, aliases, strict=True)


def test_unknown_extension_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="--format"):
        load_triples(KnowledgeGraph(), write(tmp_path, "g.xyz", "A\tr\tB\n"))
    with pytest.raises(BadInputError, match="no such file"):
        load_triples(KnowledgeGraph(), tmp_path / "missing.tsv")
    report = load_triples(KnowledgeGraph(), write(tmp_path, "g.xyz", "A\tr\tB\n"), "tsv")
    assert report.added == 1


def test_non_utf8_file_is_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "g.tsv"
    path.write_bytes(b"A\tr\t\xff\xfe\n")
    with pytest.raises(BadInputError, match="not UTF-8"):
        load_triples(KnowledgeGraph(), path)


def test_tsv_fast_and_general_paths_agree(tmp_path: Path) -> None:
    text = (
        "head\trelation\ttail\n"
        "A\tr\tB\n"  # clean: fast path
        "A  x\t r \tB\u00a0y\n"  # whitespace runs, padding, a no-break space: cleaned
        "#A\tr\tB\n"  # a comment
        "A\t\tB\n"
    )  # an empty field: malformed
    records = list(read_tsv(write(tmp_path, "g.tsv", text)))
    assert records == [
        Record(2, "triple", "A", "r", "B"),
        Record(3, "triple", "A x", "r", "B y"),
        Malformed(5, "empty relation"),
    ]
    reordered = list(read_tsv(write(tmp_path, "h.tsv", "tail\thead\trelation\nB\tA\tr\n")))
    assert reordered == [Record(2, "triple", "A", "r", "B")]
