"""Models behind cached, batched interfaces: the Backend protocol and registry, the hf,
fake and (later) HTTP backends, the SQLite cache, the Generator service and embedders.

Nothing is imported here on purpose: the plugin loads in every pytest run, and a fully
cached run must never pay for torch or transformers.
"""
