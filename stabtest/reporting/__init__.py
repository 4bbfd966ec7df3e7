"""Reports of a run: failure messages, terminal tables, JSON and HTML."""
