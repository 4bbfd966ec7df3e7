"""Everything that makes variants of a prompt: the expander, rule perturbations, model
paraphrases, hypothesis strategies, and the registry of a session's cases."""
