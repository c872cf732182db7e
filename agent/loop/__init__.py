"""The α-UMi planner–caller–summarizer loop (``tools`` and ``auto`` modes); :mod:`agent.loop.answer` is its door."""
