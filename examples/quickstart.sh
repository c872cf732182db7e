#!/usr/bin/env bash
# The quick start: install, then run the demo on the embedded local model (SmolLM2-135M via llama.cpp):
# ingest the demo corpus, load the demo graph, answer one question from the documents and one from the graph
# (auto mode, cited), then a few demo questions as a batch, and print the metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
bash examples/setup.sh
export LODESTAR_HOME="${LODESTAR_HOME:-.lodestar}"
LODESTAR=.venv/bin/lodestar
$LODESTAR ingest examples/corpus
$LODESTAR kg load examples/graph/navigation.tsv --aliases examples/graph/aliases.tsv
# Auto mode's evidence router sends each question where its answer is: a detail of the documents (MAIN-RAG,
# cited chunks), then an entity of the graph (Think-on-Graph, cited triples). No answer from the model's memory.
$LODESTAR ask "Which ship carried Harrison's H4 on its first sea trial to Jamaica in 1761?"
$LODESTAR ask "Who built the H4 marine chronometer?"
$LODESTAR batch examples/questions.jsonl -o "$LODESTAR_HOME/demo-answers.jsonl" --limit "${DEMO_LIMIT:-6}" --resume
echo "answers: $LODESTAR_HOME/demo-answers.jsonl   traces: $LODESTAR_HOME/traces/"
