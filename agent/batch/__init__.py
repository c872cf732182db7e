"""The batch front end: JSONL questions in, JSONL answers and a metrics summary out, with resume."""
