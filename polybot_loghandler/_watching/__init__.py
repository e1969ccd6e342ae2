"""
Watches and digests (#14): the pure parts.

Silence per key, periods aligned to the clock, a digest's open periods
with their groups, and its measures.
Not wired to ``routing.yaml`` yet: the configuration, the worker's and
the relay's evaluation, and the state kept across restarts come next.
"""
