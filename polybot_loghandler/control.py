"""
Control commands for agents: hear ``pause``, ``resume`` and ``switch``.

The Discord bot appends each command to a Redis stream, the control
stream (``polybot:control`` unless told otherwise); an agent hears the
commands meant for it with :func:`listen`, and answers each::

    from polybot_loghandler import control

    def obey(command: control.Command) -> None:
        if command.command == "pause":
            ...

    with control.listen(obey, agent="Momentum_BTC_v1") as listener:
        ...  # the agent's work; commands arrive in the listener's thread

A :class:`Command` has ``id`` (its stream entry id: ``1733489700123-0``),
``command`` (``pause``, ``resume`` or ``switch``), ``agent`` (the agent
it is for; empty for every agent), ``mode`` (``paper`` or ``live``, for
``switch``), ``requested_by`` and ``requested_by_id`` (who asked on
Discord), ``requested_at`` (epoch seconds) and ``via`` (``slash`` or
``prefix``).

The contract:

- **Every agent hears every command.** Each agent reads the stream in a
  consumer group of its own, ``agent:<name>`` (its consumer is
  ``<hostname>:<pid>``), and obeys those naming it or no agent; the
  others it passes over (acknowledged in its group, not answered).
- **From its first start on.** The group is made at the stream's end the
  first time the agent listens: commands sent before are not for it.
  Commands sent while it is stopped wait in its group and come when it
  listens again; after a restart (or a reconnect) it first takes those
  it had read but not finished, then new ones.
- **Every command it reads is answered** on the acknowledgements' stream
  (the control stream's name plus ``:acks``) with an :class:`Ack`:
  ``command_id`` (the command's id), ``agent``, ``status``, ``error``
  and ``acked_at`` (epoch seconds). ``done``: the callback returned.
  ``failed``: the callback raised an ``Exception`` (``error`` is
  ``"<ExcType>: <message>"``; it is logged on the
  ``polybot_loghandler.control`` logger, never re-raised), or the entry
  could not be read (``error`` says why). Either way the command is
  finished: a command the agent could not obey is answered, not
  delivered again.
- **At least once.** The answer is appended first, then the command is
  acknowledged in the group; a crash (or Redis going away) between the
  callback and that acknowledgement delivers the command again. The
  callback must therefore be idempotent: keyed by ``command.id``, a
  command already obeyed is not obeyed twice.
- **The callback runs in the listener's thread**, one command at a time,
  in stream order; while it runs, no other command is read, and
  :meth:`Listener.stop` waits for it.
- **Redis going away does not end the listener.** It logs one warning
  (the URL's password hidden), tries again with a backoff (0.5 s up to
  10 s), makes its group again if Redis lost it, and logs when Redis
  answers again.

The Redis URL is ``redis_url``, else ``$POLYBOT_REDIS_URL``. This needs
the ``redis`` package (``pip install 'polybot-loghandler[relay]'``);
importing this module does not import it.
"""

from __future__ import annotations

import os

from polybot_loghandler._control.listener import Callback, Listener
from polybot_loghandler._control.wire import DEFAULT_STREAM, Ack, Command
from polybot_loghandler._relay.connect import (
    INSTALL,
    RelayUnavailable,
    load_redis,
)

__all__ = ["DEFAULT_STREAM", "Ack", "Command", "Listener", "listen"]

#: Where the Redis URL comes from when :func:`listen` is given none.
ENV = "POLYBOT_REDIS_URL"


def listen(
    callback: Callback,
    *,
    agent: str,
    redis_url: str | None = None,
    stream: str = DEFAULT_STREAM,
) -> Listener:
    """
    Start hearing the control commands for *agent*; return its listener.

    *callback* is called in the listener's thread for each command for
    *agent* (or for every agent): once, or again after a crash (at least
    once; see above). Returns at once: the group is made, and Redis
    first talked to, in the thread.

    Raises:
        TypeError: *callback* is not callable.
        ValueError: No Redis URL (neither *redis_url* nor
            ``POLYBOT_REDIS_URL``), or *agent* or *stream* is empty.
        RelayUnavailable: The ``redis`` package is not installed, or
            the URL is not a Redis URL (its password hidden).
    """
    if not callable(callback):
        raise TypeError("callback must be callable: it is given a Command")
    if not isinstance(agent, str) or not agent:
        raise ValueError("agent must be a non-empty string: the agent's name")
    if not isinstance(stream, str) or not stream:
        raise ValueError("stream must be a non-empty string")
    url = os.environ.get(ENV, "") if redis_url is None else redis_url
    if not url:
        raise ValueError(
            f"control.listen needs a Redis URL: pass redis_url= or set {ENV}"
        )
    try:
        load_redis()
    except RelayUnavailable:
        raise RelayUnavailable(
            "polybot_loghandler.control needs the redis package; install "
            f"it with: {INSTALL}"
        ) from None
    return Listener(callback, agent=agent, stream=stream, url=url)
