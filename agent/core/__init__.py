"""The floor every layer stands on: configuration, the error tree, secrets, untrusted text and the trace."""
