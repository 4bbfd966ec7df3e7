"""`stabtest explore`: search for the smallest perturbation of a case's prompt that breaks
the model, and keep it as a regression test.

`search` runs the hypothesis search against a `Session` (model through the cache, the
judges), `writeback` adds the found wording to the suite file as a paraphrase, `render`
prints a finding. Above the session in the layers: it needs a model and the judges.
"""
