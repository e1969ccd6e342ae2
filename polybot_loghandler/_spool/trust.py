"""
What the spool trusts: its directory, and nothing it reads back.

Messages in the spool are sent through the routing file's webhooks, so
whoever can write the spool directory could otherwise post, and ping,
through them. The directory must belong to the user that runs the process
and must not be writable by everyone (unless sticky, like ``/tmp``); a
file in it that another user owns, or that others may write, is ignored.

Even so, a message read back from disk is taken as a draft, never as
orders: who is pinged comes from the route as the routing file says now,
the destination from the channel as configured now, and every text of the
embed is redacted and its mentions broken again, as if an event had
written it.

On disk, ``coalesce: {by: [...]}`` values are kept only as keyed hashes
(HMAC-SHA256 under a random key kept in the directory, 0600): enough to
tell duplicates apart after a restart, not enough to read or guess a
secret from the message files alone.

This sits between the store (:mod:`.store`) and the engine, and does not
depend on the store's file format.
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from polybot_loghandler import _values as values
from polybot_loghandler._limits import (
    MAX_AUTHOR_NAME,
    MAX_DESCRIPTION,
    MAX_FIELD_NAME,
    MAX_FIELD_VALUE,
    MAX_FIELDS,
    MAX_FOOTER_TEXT,
    MAX_TITLE,
    MAX_URL,
)
from polybot_loghandler._payload import clamp_embed
from polybot_loghandler._text import (
    encodable,
    neutralize_mentions,
    redact_text,
)
from polybot_loghandler.exceptions import PolybotError

try:
    import pwd
except ImportError:  # pragma: no cover - not a POSIX system
    pwd = None  # type: ignore[assignment] # users are then named by uid

__all__ = [
    "KEY_NAME",
    "UntrustedSpoolError",
    "by_digest",
    "check_directory",
    "load_key",
    "prepare_directory",
    "repr_of",
    "sanitize_embed",
    "trusted_file",
]

#: The file in the spool directory that holds the key for ``by`` hashes.
KEY_NAME = "coalesce.key"
#: Bytes of that key.
KEY_BYTES = 32
#: Hex digits of a ``by`` hash kept on disk (128 bits).
DIGEST_CHARS = 32
#: Characters of a ``repr()`` hashed for coalescing: beyond, values
#: that differ only in their tail are taken as duplicates.
REPR_LIMIT = 100_000
#: Fields an embed read back may have: as many as Discord shows.
#: Characters kept past a text's limit before it is redacted and cut to
#: it: more than the longest token, so one that reaches into the part
#: shown is redacted whole.
_SPARE = 256
#: Longest timestamp text taken back (ISO 8601 with an offset is 32).
_MAX_STAMP = 40
_MAX_COLOR = 0xFFFFFF
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


# -- hashes of `coalesce: by` values ----------------------------------------


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


def repr_of(value: Any) -> str:
    """
    ``repr(value)`` as the spool keeps it, at most REPR_LIMIT characters.

    It never raises (see :mod:`polybot_loghandler._values`):
    ``repr(10**5000)`` raises, and so may an object's ``__repr__``; neither
    may stop a message being kept.
    """
    return values.repr_of(value)[:REPR_LIMIT]


def by_digest(key: bytes, value: Any) -> str:
    """A ``by`` value as kept on disk: its keyed hash, never the value."""
    data = repr_of(value).encode("utf-8", "surrogatepass")
    return hmac.new(key, data, "sha256").hexdigest()[:DIGEST_CHARS]


# -- embeds read back -------------------------------------------------------


def _text(value: Any, limit: int) -> str | None:
    """
    Text read back, made safe again: redacted, mentions broken.

    Only the part that can be shown within *limit* is looked at (the
    text is cut to *limit* afterwards): what is on disk may be of any
    size.
    """
    if not isinstance(value, str):
        return None
    value = encodable(value.strip()[: limit + _SPARE])
    return neutralize_mentions(redact_text(value))


def _link(value: Any) -> str | None:
    """A URL read back, if it is one and hides no token."""
    if (
        isinstance(value, str)
        and value.startswith(("http://", "https://"))
        and len(value) <= MAX_URL
        and value.isprintable()
        and redact_text(value) == value
    ):
        return value
    return None


def _stamp(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > _MAX_STAMP:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return None
    return value


def _part(
    raw: Any, text_key: str, limit: int, links: tuple[str, ...]
) -> dict[str, Any] | None:
    """A footer or an author read back: its text and its links."""
    if not isinstance(raw, Mapping):
        return None
    text = _text(raw.get(text_key), limit)
    if not text:
        return None
    out: dict[str, Any] = {text_key: text}
    for key in links:
        link = _link(raw.get(key))
        if link is not None:
            out[key] = link
    return out


def _fields(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        return []
    fields = []
    for item in raw[:MAX_FIELDS]:
        if not isinstance(item, Mapping):
            continue
        name = _text(item.get("name"), MAX_FIELD_NAME)
        value = _text(item.get("value"), MAX_FIELD_VALUE)
        if name is None or not value:
            continue
        field: dict[str, Any] = {"name": name, "value": value}
        if isinstance(item.get("inline"), bool):
            field["inline"] = item["inline"]
        fields.append(field)
    return fields


def sanitize_embed(raw: Any) -> dict[str, Any]:
    """
    An embed read back from disk, made safe to send whatever it holds.

    Only the parts the library renders are kept, each of the right type;
    every text is redacted and its mentions broken; links that are not
    http(s) or hide a token are left out; then the embed is held to
    Discord's limits.

    Raises:
        TypeError: There is no embed.
        ValueError: Nothing showable is left: not an embed the library
            wrote.
    """
    if not isinstance(raw, Mapping):
        raise TypeError("the message has no embed")
    color = raw.get("color")
    parts = {
        "title": _text(raw.get("title"), MAX_TITLE),
        "description": _text(raw.get("description"), MAX_DESCRIPTION),
        "url": _link(raw.get("url")),
        "color": color
        if type(color) is int and 0 <= color <= _MAX_COLOR
        else None,
        "fields": _fields(raw.get("fields")),
        "footer": _part(
            raw.get("footer"), "text", MAX_FOOTER_TEXT, ("icon_url",)
        ),
        "author": _part(
            raw.get("author"), "name", MAX_AUTHOR_NAME, ("url", "icon_url")
        ),
        "timestamp": _stamp(raw.get("timestamp")),
    }
    # empty texts and no fields are left out, as the renderer does (a
    # colour may be 0: black)
    embed = {k: v for k, v in parts.items() if v or v == 0}
    clamp_embed(embed)
    if not any(key in embed for key in ("title", "description", "fields")):
        raise ValueError("the message's embed shows nothing")
    return embed
