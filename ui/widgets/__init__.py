"""Widgets of the main screen: the chat pane and the work pane."""
