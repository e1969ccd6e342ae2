"""
The control commands' wire and the agents' side of it.

:mod:`.wire` is what the bot appends to the control stream and what an
agent appends when it has obeyed; :mod:`polybot_loghandler.control` is
the helper agents listen with.
"""
