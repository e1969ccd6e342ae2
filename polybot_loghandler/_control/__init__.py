"""
The control commands: the wire, and the agents' side of it.

What the bot appends to the control stream, and what an agent appends
when it has obeyed (:mod:`.wire`); the agents' listener
(:mod:`.listener`, public as :mod:`polybot_loghandler.control`).
"""
