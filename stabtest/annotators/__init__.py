"""Judges that turn answers into verdicts, and the embedder they share."""
