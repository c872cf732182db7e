"""MCP servers' tools in Lodestar's registry: connections (client.py, pool.py), schemas (schema.py), the adapter
(adapter.py) and the status report for ``doctor`` and ``lodestar mcp tools`` (report.py)."""
