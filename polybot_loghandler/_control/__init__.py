"""
The control commands' wire: what the bot appends to the control stream,
and what an agent appends when it has obeyed (:mod:`.wire`), and the
agents' side of it (:mod:`polybot_loghandler.control`).
"""
