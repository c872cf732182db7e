#!/usr/bin/env bash
# The quick start: install, then run the demo on the embedded local model (SmolLM2-135M via llama.cpp):
# ingest the demo corpus, load the demo graph, answer a few demo questions, and print the metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
bash examples/setup.sh
export LODESTAR_HOME="${LODESTAR_HOME:-.lodestar}"
LODESTAR=.venv/bin/lodestar
$LODESTAR ingest examples/corpus
$LODESTAR kg load examples/graph/navigation.tsv --aliases examples/graph/aliases.tsv
$LODESTAR ask --mode direct "What is a lodestone?"
$LODESTAR batch examples/questions.jsonl -o "$LODESTAR_HOME/demo-answers.jsonl" --limit "${DEMO_LIMIT:-6}" --resume
echo "answers: $LODESTAR_HOME/demo-answers.jsonl   traces: $LODESTAR_HOME/traces/"
