"""The LLM side of Lodestar: OpenAI-compatible client, roles and configuration, trace, and the agent loop."""
