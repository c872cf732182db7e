"""``lodestar mcp``: Lodestar's questions, documents and graph served to MCP clients (a front end)."""
