"""Rebuild metaqa_subset.tsv / metaqa_questions.tsv from /work/shared/data/kg/metaqa (see SOURCE.md here).

Picks answerable questions (the check file's column 4) whose graph neighbourhood is small, and keeps every triple
of the topic entity and of the entities one step along the question's relation path (so distractor relations and
entities stay in), sorted and de-duplicated.
"""

from __future__ import annotations

import csv
import gzip
import random
import re
from collections import defaultdict
from pathlib import Path

SRC = Path("/work/shared/data/kg/metaqa")
OUT = Path(__file__).resolve().parent
FIRST = {"movie": None, "actor": "starred_actors", "writer": "written_by", "director": "directed_by"}


def main() -> None:
    by_entity: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    with gzip.open(SRC / "kb_partial_keallm.txt.gz", "rt", encoding="utf-8") as fh:
        for line in fh:
            h, r, t = line.rstrip("\n").split("|")
            by_entity[h].add((h, r, t))
            by_entity[t].add((h, r, t))
    rows = list(csv.DictReader((SRC / "sample500_partial_kb_check.tsv").open(encoding="utf-8"), delimiter="\t"))
    rng = random.Random(4)
    chosen, triples = [], set()
    for hop, want in ((1, 6), (2, 6)):
        lines = (SRC / f"qa_test_{hop}hop_sample500.txt").read_text(encoding="utf-8").splitlines()
        qtypes = (SRC / f"qa_test_{hop}hop_sample500_qtype.txt").read_text(encoding="utf-8").splitlines()
        hop_rows = [r for r in rows if r["hop"] == str(hop)]
        order = list(range(len(lines)))
        rng.shuffle(order)
        for i in order:
            if hop_rows[i]["gold_equals_traversal_excl_topic"] != "1":
                continue
            question, gold = lines[i].split("\t")
            parts = qtypes[i].split("_to_")
            if hop == 2 and parts[0] == parts[2]:
                continue  # same relation there and back: ToG's no-walk-back rule cannot answer these
            topic = re.search(r"\[([^\]]+)\]", question).group(1)
            near = by_entity[topic]
            second = {x for h, r, t in near for x in (h, t) if x != topic} if hop == 2 else set()
            block = set(near) | {tr for e in second for tr in by_entity[e]}
            if len(near) > 40 or len(block) > 250 or len(gold.split("|")) > 8:
                continue
            chosen.append((hop, question, gold, qtypes[i]))
            triples |= block
            if sum(1 for c in chosen if c[0] == hop) == want:
                break
    with (OUT / "metaqa_subset.tsv").open("w", encoding="utf-8") as fh:
        fh.write("head\trelation\ttail\n")
        for h, r, t in sorted(triples):
            fh.write(f"{h}\t{r}\t{t}\n")
    with (OUT / "metaqa_questions.tsv").open("w", encoding="utf-8") as fh:
        fh.write("hop\tquestion\tanswers\tqtype\n")
        for hop, question, gold, qtype in chosen:
            fh.write(f"{hop}\t{question}\t{gold}\t{qtype}\n")
    print(f"{len(chosen)} questions, {len(triples)} triples")


if __name__ == "__main__":
    main()
