"""
The spool directory and its files: whose they must be to be used.

Messages in the spool are sent through the routing file's webhooks, so
whoever can write the spool directory could otherwise post, and ping,
through them. The directory must belong to the user that runs the process
and must not be writable by everyone (unless sticky, like ``/tmp``); a
file in it that another user owns, or that others may write, is ignored.

The key that ``coalesce: {by: [...]}`` values are hashed with (see
:mod:`.content`) is a file of the directory too, made here and kept
0600: one that is not ours alone is replaced.

What a message read back may carry is :mod:`.content`'s business; this
module does not depend on the store's file format either.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path

from polybot_loghandler.exceptions import PolybotError

try:
    import pwd
except ImportError:  # pragma: no cover - not a POSIX system
    pwd = None  # type: ignore[assignment] # users are then named by uid

__all__ = [
    "KEY_NAME",
    "UntrustedSpoolError",
    "check_directory",
    "load_key",
    "prepare_directory",
    "trusted_file",
]

#: The file in the spool directory that holds the key for ``by`` hashes.
KEY_NAME = "coalesce.key"
#: Bytes of that key.
KEY_BYTES = 32
# group or others may write it
_OTHERS_WRITE = stat.S_IWGRP | stat.S_IWOTH


class UntrustedSpoolError(PolybotError):
    """A spool directory that another user could write messages into."""


# -- the directory --------------------------------------------------------


def _user(uid: int) -> str:
    """A user as a person reads it: ``nobody (uid 65534)``."""
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (AttributeError, KeyError, OverflowError):
        return f"uid {uid}"


def _mode(info: os.stat_result) -> str:
    return f"mode {stat.S_IMODE(info.st_mode):04o}"


def check_directory(directory: Path) -> str | None:
    """
    Refuse a spool directory another user could write messages into.

    The directory (after symbolic links) must belong to the user running
    the process and must not be writable by others without the sticky
    bit; no directory above it may be writable by others without the
    sticky bit either (or anyone could swap the spool for another).

    Returns:
        A warning when the directory's group may write it (its members
        could delete or replace undelivered messages), else ``None``.

    Raises:
        UntrustedSpoolError: The directory is refused; the message says
            why and what to do.
        OSError: It cannot be looked at (missing, no permission).
    """
    if not hasattr(os, "geteuid"):  # pragma: no cover - not POSIX
        raise UntrustedSpoolError(
            "the durable spool needs a POSIX system; run without a spool "
            "directory here"
        )
    real = Path(os.path.realpath(directory))
    info = real.stat()
    if not stat.S_ISDIR(info.st_mode):
        raise UntrustedSpoolError(f"{real} is not a directory")
    me = os.geteuid()
    if info.st_uid != me:
        raise UntrustedSpoolError(
            f"it belongs to {_user(info.st_uid)}, not to {_user(me)} who "
            "runs this process: its owner could plant messages that are "
            "sent through your webhooks; use a directory of your own"
        )
    if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX:
        raise UntrustedSpoolError(
            f"every user can write it, {_mode(info)}: anyone could plant "
            f"messages that are sent through your webhooks; run "
            f"'chmod 700 {real}'"
        )
    for parent in real.parents:
        above = parent.stat()
        if above.st_mode & stat.S_IWOTH and not above.st_mode & stat.S_ISVTX:
            raise UntrustedSpoolError(
                f"every user can write {parent}, which holds it, "
                f"{_mode(above)} without the sticky bit: anyone could "
                "replace the spool; use a directory elsewhere"
            )
    if info.st_mode & stat.S_IWGRP:
        return (
            f"the spool {real} can be written by its group, {_mode(info)}:"
            " its members could delete or replace undelivered messages; "
            f"run 'chmod 700 {real}'"
        )
    return None


def prepare_directory(directory: Path) -> str | None:
    """
    Create the spool directory (0700) if need be, then check it.

    Returns:
        What :func:`check_directory` warns about, if anything.

    Raises:
        UntrustedSpoolError: The directory is refused.
        OSError: It cannot be created or looked at.
    """
    directory = Path(directory)
    missing = [directory, *directory.parents]
    while missing and missing[-1].exists():
        missing.pop()
    for parent in reversed(missing[1:]):  # not everyone's, whatever the umask
        with contextlib.suppress(FileExistsError):
            parent.mkdir(mode=0o755)
    directory.mkdir(mode=0o700, exist_ok=True)
    return check_directory(directory)


def trusted_file(info: os.stat_result) -> bool:
    """
    Whether a file in the spool directory may be read back and sent.

    It must be a regular file of the user running the process that no
    one else may write: one another user put there is ignored.
    """
    return (
        stat.S_ISREG(info.st_mode)
        and info.st_uid == os.geteuid()
        and not info.st_mode & _OTHERS_WRITE
    )


# -- the key of `coalesce: by` hashes --------------------------------------


def load_key(directory: Path) -> bytes:
    """
    The directory's key for ``by`` hashes, made on first use.

    Every process using the directory shares it, so duplicates logged by
    one and sent by the next still merge. A key file that is not ours
    alone, or not whole, is replaced.

    Raises:
        OSError: The key can be neither read nor written.
    """
    path = Path(directory) / KEY_NAME
    found = _read_key(path)
    if found is not None:
        return found
    fresh = secrets.token_bytes(KEY_BYTES)
    tmp = path.with_name(f".{KEY_NAME}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, fresh)
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        try:
            os.link(tmp, path)  # fails if another process made one first
        except FileExistsError:
            found = _read_key(path)
            if found is not None:
                return found
            tmp.replace(path)  # a bad one: ours replaces it
        except OSError:  # no hard links here: a rename does, racily
            tmp.replace(path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return fresh


def _read_key(path: Path) -> bytes | None:
    """The key in *path*, if it is ours alone and whole."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None  # a symbolic link: never ours
        raise
    try:
        info = os.fstat(fd)
        if not trusted_file(info) or stat.S_IMODE(info.st_mode) & 0o077:
            return None
        data = os.read(fd, KEY_BYTES + 1)
    finally:
        os.close(fd)
    return data if len(data) == KEY_BYTES else None
