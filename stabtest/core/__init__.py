"""Pure core of stabtest: suite model, variants, plan, results, metrics.

Nothing here imports pytest, torch or the network, so every piece can be unit tested and
reused by the CLI, the plugin and the benchmarks alike.
"""
