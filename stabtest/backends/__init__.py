"""Model backends: the Protocol, a lazy registry, the HF and fake backends, and the cache.

Nothing is imported here on purpose: the plugin loads in every pytest run, and a fully
cached run must never pay for torch or transformers.
"""
