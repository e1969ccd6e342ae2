"""
The durable spool: messages bound for Discord, kept on disk until sent.

Nothing is imported here; each module is imported by its own name:

- :mod:`.store`: :class:`~.store.Spool`, the store one process opens: it
  appends, marks done, commits, and adopts what gone processes left.
- :mod:`.db`: the SQLite database file, its schema and migrations, and a
  connection that is safe across ``fork()``.
- :mod:`.owners`: whether the process that owns a spool's messages is gone.
- :mod:`.directory`: whose the directory and its files must be to be
  used, and the key kept there for ``coalesce: by`` hashes.
- :mod:`.content`: what a message may carry on disk: ``by`` values only
  as keyed hashes going in, embeds made safe again coming back.
- :mod:`.legacy`: the reader of the old segment files, moved into the
  database once.
- :mod:`.keeper`: :class:`~.keeper.SpoolKeeper`, the delivery engine's
  side: what is on disk but not in memory, per lane, and the group commit.
- :mod:`.status`: a spool directory seen from outside, for
  ``spool status`` and ``spool purge``.
- :mod:`.watchstate`: what the watches and digests know, a row per
  process and routing file, taken over from a process that is gone.
- :mod:`.mutes`: the mutes ``polybot-loghandler mute`` writes, which the
  processes that use the directory read.
"""
