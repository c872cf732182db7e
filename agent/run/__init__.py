"""One question, one run: the mode table, follow-ups and the shared run wrapper every front end goes through."""
