"""The HTML report of a batch (``lodestar report``)."""
