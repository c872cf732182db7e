"""The chat TUI (Textual): ``lodestar`` / ``lodestar chat`` runs :func:`ui.app.run_tui`."""
