"""
The floor's current state, derived from the events it logs.

What ``ask`` and the Discord bot answer from (``/status``, ``/pnl``,
``/agents``, ``/positions``): tables of rows and totals per period,
declared by the routing file's ``state:`` section (read by
:mod:`polybot_loghandler._config.state` into :mod:`.model`) and reduced
from events into changes (:mod:`.reduce`, applied by :mod:`.state`).
Pure: no I/O, no clock.
"""
