"""
The floor's current state, derived from the events it logs.

What ``ask`` and the Discord bot answer from (``/status``, ``/pnl``,
``/agents``, ``/positions``): tables of rows and totals per period,
declared by a ``state:`` section (:mod:`.model`) and reduced from events
into changes (:mod:`.state`). Pure: no I/O, no clock. Not yet wired to
the routing file.
"""
