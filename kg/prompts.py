"""Think-on-Graph prompts (paraphrased from ToG's ``prompt_list.py``), kept as data and rendered per output format.

Layout: the instruction and the worked examples go in the system message (trusted, and a shared prefix the server
can cache); the instance goes in the user message with every piece of graph text inside a delimited data block.
Graph text is untrusted: it is sanitized and loses ``{``/``}`` (ToG's answer braces) and line breaks, so a triple
cannot forge ``{Yes}`` or a new ``A:`` line. Examples are few and short on purpose: the bundled model reads ~100
prompt tokens/s (ToG itself uses 1 example for pruning and 5 for reasoning).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agent.core.untrusted import DATA_REMINDER, data_block, sanitize

SYSTEM = "You are an AI assistant that helps people find information."
STOP = ["\nQ:", "\n\nQ:"]


def safe(text: str) -> str:
    """Graph text made inert: no delimiters, control tokens, answer braces or line breaks."""
    cleaned = sanitize(text).replace("{", "(").replace("}", ")")
    return " ".join(cleaned.split())


def triples_text(triples: Sequence[Sequence[str]]) -> str:
    return "\n".join(", ".join(safe(part) for part in triple) for triple in triples)


# -- relation pruning -----------------------------------------------------------------------------------------

RELATION_TASK = (
    "Pick the {n} relations of the topic entity that help most to answer the question, and rate each one's "
    "contribution from 0 to 1 so that the {n} scores add up to 1. Use only relations from the list."
)
RELATION_FORMAT_TEXT = "Write one line per relation, best first: `1. {relation (Score: 0.5)}: reason`."
RELATION_FORMAT_JSON = 'Reply with JSON: {"relations": [{"name": relation, "score": number}, ...]}.'
RELATION_EXAMPLE: dict[str, Any] = {
    "question": "Which country is the river that flows through Lyon in?",
    "entity": "Lyon",
    "relations": ["crosses", "located_in", "mayor", "population", "twinned_with"],
    "picks": [
        ("crosses", 0.6, "the river through Lyon is reached by this relation"),
        ("located_in", 0.3, "the country Lyon lies in is likely the river's country too"),
        ("twinned_with", 0.1, "unlikely to help"),
    ],
}


def _relation_instance(question: str, entity: str, relations: Sequence[str]) -> str:
    return (
        f"Q: {question}\nTopic entity:\n{data_block('entity', safe(entity))}\n"
        f"Relations:\n{data_block('relations', '; '.join(safe(r) for r in relations))}\nA:"
    )


def relation_messages(question: str, entity: str, relations: Sequence[str], n: int, *, json_mode: bool) -> list[dict]:
    ex = RELATION_EXAMPLE
    picks = ex["picks"][:n]
    if json_mode:
        answer = json.dumps({"relations": [{"name": r, "score": s} for r, s, _ in picks]})
    else:
        answer = "\n".join(f"{i}. {{{r} (Score: {s})}}: {why}." for i, (r, s, why) in enumerate(picks, 1))
    system = "\n".join(
        [
            SYSTEM,
            RELATION_TASK.format(n=n),
            RELATION_FORMAT_JSON if json_mode else RELATION_FORMAT_TEXT,
            DATA_REMINDER,
            "",
            "Example:",
            _relation_instance(ex["question"], ex["entity"], ex["relations"]) + " " + answer,
        ]
    )
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": _relation_instance(question, entity, relations)},
    ]


# -- entity scoring -------------------------------------------------------------------------------------------

ENTITY_TASK = (
    "Score how much each candidate entity helps to answer the question, from 0 to 1, with all scores adding up to 1."
)
ENTITY_FORMAT_TEXT = "Reply with the scores only, comma-separated, in the order of the entities, then one short reason."
ENTITY_FORMAT_JSON = 'Reply with JSON: {"scores": [number, ...]}, one score per entity, in their order.'
ENTITY_EXAMPLE: dict[str, Any] = {
    "question": "Which film directed by Ridley Scott stars Russell Crowe?",
    "relation": "directed",
    "entities": ["Alien", "Blade Runner", "Gladiator"],
    "scores": [0.0, 0.0, 1.0],
    "why": "Gladiator is the Ridley Scott film starring Russell Crowe.",
}


def _entity_instance(question: str, relation: str, entities: Sequence[str]) -> str:
    return (
        f"Q: {question}\nRelation:\n{data_block('relation', safe(relation))}\n"
        f"Entities:\n{data_block('entities', '; '.join(safe(e) for e in entities))}\nScore:"
    )


def entity_messages(question: str, relation: str, entities: Sequence[str], *, json_mode: bool) -> list[dict]:
    ex = ENTITY_EXAMPLE
    if json_mode:
        answer = json.dumps({"scores": ex["scores"]})
    else:
        answer = ", ".join(f"{s:.1f}" for s in ex["scores"]) + "\n" + ex["why"]
    system = "\n".join(
        [
            SYSTEM,
            ENTITY_TASK,
            ENTITY_FORMAT_JSON if json_mode else ENTITY_FORMAT_TEXT,
            DATA_REMINDER,
            "",
            "Example:",
            _entity_instance(ex["question"], ex["relation"], ex["entities"]) + " " + answer,
        ]
    )
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": _entity_instance(question, relation, entities)},
    ]


# -- sufficiency check and answers ----------------------------------------------------------------------------

EVALUATE_TASK = (
    "Given a question and knowledge-graph triplets (entity, relation, entity), say whether the triplets and your "
    "own knowledge are enough to answer the question."
)
EVALUATE_FORMAT_TEXT = (
    "Start with {Yes} or {No}, then explain briefly. If Yes, also give the answer in a second pair of braces."
)
EVALUATE_FORMAT_JSON = 'Reply with JSON: {"sufficient": true or false, "answer": the answer if sufficient, else ""}.'
EVALUATE_EXAMPLES: list[dict[str, Any]] = [
    {
        "question": "Who founded the company that makes the Model T?",
        "triples": [["Model T", "manufacturer", "Ford Motor Company"]],
        "sufficient": False,
        "answer": "",
        "why": "The triplets name the maker, Ford Motor Company, but not its founder.",
    },
    {
        "question": "In which city was the composer of The Magic Flute born?",
        "triples": [
            ["The Magic Flute", "composer", "Wolfgang Amadeus Mozart"],
            ["Wolfgang Amadeus Mozart", "place_of_birth", "Salzburg"],
        ],
        "sufficient": True,
        "answer": "Salzburg",
        "why": "The Magic Flute was composed by Mozart, who was born in Salzburg.",
    },
]


def _triples_instance(question: str, triples_block: str) -> str:
    return f"Q: {question}\nKnowledge triplets:\n{data_block('triplets', triples_block)}\nA:"


def _evaluate_answer(ex: dict, json_mode: bool) -> str:
    if json_mode:
        return json.dumps({"sufficient": ex["sufficient"], "answer": ex["answer"]})
    if ex["sufficient"]:
        return f"{{Yes}}. {ex['why']} The answer is {{{ex['answer']}}}."
    return f"{{No}}. {ex['why']}"


def evaluate_messages(question: str, triples_block: str, *, json_mode: bool) -> list[dict]:
    parts = [SYSTEM, EVALUATE_TASK, EVALUATE_FORMAT_JSON if json_mode else EVALUATE_FORMAT_TEXT, DATA_REMINDER]
    for ex in EVALUATE_EXAMPLES:
        parts += [
            "",
            "Example:",
            _triples_instance(ex["question"], triples_text(ex["triples"])) + " " + _evaluate_answer(ex, json_mode),
        ]
    return [
        {"role": "system", "content": "\n".join(parts)},
        {"role": "user", "content": _triples_instance(question, triples_block)},
    ]


ANSWER_TASK = (
    "Answer the question using the knowledge triplets and your own knowledge. Start the reply with the answer "
    "itself, the entity's name in braces, like {answer}; then one short sentence saying which triplets support it."
)


def answer_messages(question: str, triples_block: str) -> list[dict]:
    ex = EVALUATE_EXAMPLES[1]
    parts = [
        SYSTEM,
        ANSWER_TASK,
        DATA_REMINDER,
        "",
        "Example:",
        _triples_instance(ex["question"], triples_text(ex["triples"])) + f" {{{ex['answer']}}}. {ex['why']}",
    ]
    return [
        {"role": "system", "content": "\n".join(parts)},
        {"role": "user", "content": _triples_instance(question, triples_block)},
    ]


COT_TASK = "Answer the question from your own knowledge. Think briefly, then end with: The answer is {answer}."
COT_EXAMPLE = (
    "Q: What state is home to the university that is represented in sports by the George Washington "
    "Colonials?\nA: The George Washington Colonials represent George Washington University, which is in "
    "Washington, D.C. The answer is {Washington, D.C.}."
)


def cot_messages(question: str) -> list[dict]:
    system = "\n".join([SYSTEM, COT_TASK, "", "Example:", COT_EXAMPLE])
    return [{"role": "system", "content": system}, {"role": "user", "content": f"Q: {question}\nA:"}]
