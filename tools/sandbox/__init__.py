"""A sandbox for LLM-written Python: Pyodide inside Deno with minimal permissions (runner.py: what it guarantees)."""
