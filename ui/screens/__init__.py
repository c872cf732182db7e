"""Modal screens: citation viewer, conversation history, settings, help, and the ingest / graph prompts."""
