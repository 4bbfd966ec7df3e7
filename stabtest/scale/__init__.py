"""Past one process: a session's plan written as a file, executed here or on Ray.

`planner` writes the plan of a collected session; `execute` streams it in blocks to
workers (`workers`: this process, or Ray actors in `ray_workers`) and fills the cache in
the session's own keys, so the run that follows only judges and gates.
"""
