"""Talking to OpenAI-compatible endpoints: transport, replicas and retries, wire format, capabilities, the client,
structured output, the response cache, the role hub and the embedded llama.cpp server."""
