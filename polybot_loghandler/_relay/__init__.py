"""
The relay mode: many processes, one delivery, on Redis Streams.

With ``delivery.relay`` set, each process's worker appends its captured
events to a Redis stream (:mod:`.producer`), and one relay process
(:mod:`.relay`, run by ``polybot-loghandler relay``) routes, renders and
delivers them all, with one view of Discord's limits and one coalescing
window. This package needs the optional ``redis`` package, which only
:mod:`.connect` imports.
"""
