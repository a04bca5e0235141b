"""Running things: one pipeline (pipeline), one job around it (job), a sweep of jobs (sweep), the
Session a process's runs share (session), signals (interrupt), warm-up (warmup), the result a
run produces (result).

May import every other room; nothing below imports the engine (but for types).
"""
