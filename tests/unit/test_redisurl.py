"""
Tests for polybot_loghandler._redisurl: the relay's Redis URL, read and
shown without its secrets.

A password here is a secret: no table case, and no password hypothesis
draws, may show up in a redacted URL, a ``RedisUrl``'s ``str`` or
``repr``, a ``ValueError`` or a ``ConfigError``.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from polybot_loghandler._config import parse_config
from polybot_loghandler._redisurl import (
    HIDDEN,
    RedisUrl,
    RedisUrlError,
    parse,
    redacted_url,
)
from polybot_loghandler.exceptions import ConfigError

SECRET = "hunter2-S3cr3t"

#: url → what redacted_url makes of it.
REDACTED = {
    "user-and-password": (
        f"redis://alice:{SECRET}@cache:6379/0",
        "redis://***@cache:6379/0",
    ),
    "password-only": (
        f"redis://:{SECRET}@cache:6379/0",
        "redis://***@cache:6379/0",
    ),
    "user-only": ("redis://alice@cache/0", "redis://***@cache/0"),
    "empty-userinfo": ("redis://@cache/0", "redis://@cache/0"),
    "raw-at-in-password": (
        "redis://:p@ss@w@rd@cache:6379/1",
        "redis://***@cache:6379/1",
    ),
    "raw-colons-in-password": (
        "redis://alice:pa:ss:wd@cache/1",
        "redis://***@cache/1",
    ),
    "encoded-at-in-password": (
        "redis://:p%40ss@cache/1",
        "redis://***@cache/1",
    ),
    "raw-slash-in-password": (
        "redis://:pa/ss@cache/1",
        "redis://***@cache/1",
    ),
    "raw-hash-and-question-mark": (
        "redis://:p#a?ss@cache/1",
        "redis://***@cache/1",
    ),
    "ipv6-with-password": (
        f"redis://:{SECRET}@[::1]:6380/2",
        "redis://***@[::1]:6380/2",
    ),
    "ipv6-without": ("redis://[::1]:6380/2", "redis://[::1]:6380/2"),
    "tls": (
        f"rediss://default:{SECRET}@cache.example.com:6380/0",
        "rediss://***@cache.example.com:6380/0",
    ),
    "no-credentials": ("redis://localhost:6379/0", "redis://localhost:6379/0"),
    "unix": ("unix:///tmp/redis.sock?db=2", "unix:///tmp/redis.sock?db=2"),
    "unix-with-password": (
        f"unix://:{SECRET}@/tmp/redis.sock?db=2",
        "unix://***@/tmp/redis.sock?db=2",
    ),
    "password-parameter": (
        f"redis://cache/0?password={SECRET}&db=3",
        "redis://cache/0?password=***&db=3",
    ),
    "password-parameter-last": (
        f"unix:///tmp/redis.sock?db=2&password={SECRET}",
        "unix:///tmp/redis.sock?db=2&password=***",
    ),
    "password-parameter-with-ampersand": (
        "redis://cache/0?password=a&b&db=3",
        "redis://cache/0?password=***&db=3",
    ),
    "password-parameter-with-hash": (
        "redis://cache/0?password=a#b",
        "redis://cache/0?password=***",
    ),
    # an empty value may be a password starting "&x=": hidden to the end
    "password-parameter-empty": (
        "redis://cache/0?password=&db=3",
        "redis://cache/0?password=***",
    ),
    "username-parameter": (
        "redis://cache/0?username=alice&password=pw",
        "redis://cache/0?username=***&password=***",
    ),
    "password-parameter-case": (
        "redis://cache/0?PASSWORD=pw",
        "redis://cache/0?PASSWORD=***",
    ),
    # an @ in a parameter's value hides more than needed: never less
    "raw-at-in-password-parameter": (
        "redis://cache/0?password=p@ss&db=3",
        "redis://***&db=3",
    ),
    "both-forms": (
        "redis://:one@cache/0?password=two",
        "redis://***@cache/0?password=***",
    ),
    "lost-at-port-is-hidden": ("redis://:hunter2", "redis://:***"),
    "port-not-a-number": ("redis://cache:abc/0", "redis://cache:***/0"),
    "no-scheme": ("alice:pw@cache:6379", "***@cache:6379"),
    "other-scheme": ("http://alice:pw@cache/0", "http://***@cache/0"),
    "empty": ("", ""),
}

#: url → the RedisUrl parse makes of it (its url is the url itself).
PARSED = {
    "full": (
        "redis://alice:pw@cache.internal:6380/3",
        ("redis", "cache.internal", 6380, 3, False),
    ),
    "defaults": ("redis://", ("redis", "localhost", 6379, 0, False)),
    "host-only": ("redis://cache", ("redis", "cache", 6379, 0, False)),
    "trailing-slash": ("redis://cache/", ("redis", "cache", 6379, 0, False)),
    "no-host": ("redis:///5", ("redis", "localhost", 6379, 5, False)),
    "tls": ("rediss://cache:6380", ("rediss", "cache", 6380, 0, True)),
    "scheme-any-case": ("REDIS://Cache:1/2", ("redis", "cache", 1, 2, False)),
    "ipv6": ("redis://[::1]:6379/2", ("redis", "::1", 6379, 2, False)),
    "ipv6-no-port": ("redis://[::1]", ("redis", "::1", 6379, 0, False)),
    "ipv6-with-password": (
        "redis://:p%40ss@[::1]:7000/1",
        ("redis", "::1", 7000, 1, False),
    ),
    "raw-at-and-colon-in-password": (
        "redis://user:p@s:s@cache/4",
        ("redis", "cache", 6379, 4, False),
    ),
    "db-parameter-wins": (
        "redis://cache/1?db=4",
        ("redis", "cache", 6379, 4, False),
    ),
    "first-db-parameter": (
        "redis://cache?db=4&db=5",
        ("redis", "cache", 6379, 4, False),
    ),
    "raw-at-in-password-parameter": (
        "redis://cache/0?password=p@ss",
        ("redis", "cache", 6379, 0, False),
    ),
    "unix": (
        "unix:///tmp/redis.sock?db=2",
        ("unix", "/tmp/redis.sock", None, 2, False),
    ),
    "unix-default-db": (
        "unix:///run/redis/redis.sock",
        ("unix", "/run/redis/redis.sock", None, 0, False),
    ),
    "unix-with-password": (
        "unix://:pw@/tmp/redis.sock?db=15",
        ("unix", "/tmp/redis.sock", None, 15, False),
    ),
    "highest-port": (
        "redis://cache:65535",
        ("redis", "cache", 65535, 0, False),
    ),
}

#: url → words of the reason parse gives, and whether the URL is quoted.
REFUSED = {
    "no-scheme": ("cache:6379", "it has no scheme", False),
    "password-alone": (SECRET, "it has no scheme", False),
    "single-slash": ("redis:/cache", "it has no scheme", False),
    "http": (
        "http://alice:pw@cache/0",
        "its scheme is not redis://, rediss:// or unix://",
        False,
    ),
    "a-password-with-a-scheme": (
        f"{SECRET}://x",
        "its scheme is not redis://",
        False,
    ),
    "redis-sentinel": ("redis+sentinel://cache", "its scheme is not", False),
    "port-not-a-number": ("redis://cache:abc/0", "its port is not", True),
    "port-zero": ("redis://cache:0/0", "its port is not", True),
    "port-too-high": ("redis://cache:65536/0", "its port is not", True),
    "lost-at": (f"redis://:{SECRET}", "its port is not", True),
    "unclosed-ipv6": ("redis://[::1/0", "its host cannot be read", True),
    "db-word": ("redis://cache/zero", "its database", True),
    "db-negative": ("redis://cache/-1", "its database", True),
    "db-fraction": ("redis://cache/1.5", "its database", True),
    "db-path": ("redis://cache/1/2", "its database", True),
    "db-parameter-word": ("redis://cache?db=x", "its database", True),
    "db-parameter-empty": ("redis://cache?db=", "its database", True),
    "db-arabic-digit": ("redis://cache/٥", "its database", True),
    "db-too-large": ("redis://cache/99999999999", "its database", True),
    "db-thousands-of-digits": (
        "redis://cache/" + "9" * 5000,
        "its database",
        True,
    ),
    "unix-db-word": ("unix:///tmp/r.sock?db=two", "its database", True),
    "unix-no-path": ("unix://", "it names no socket", True),
    "raw-slash-in-password": (
        f"redis://:{SECRET}/x@cache/0",
        "an '@' after its host",
        True,
    ),
    "raw-question-mark-in-password": (
        f"redis://:{SECRET}?x@cache/0",
        "an '@' after its host",
        True,
    ),
    "raw-question-mark-in-user": (
        "redis://alice?x@cache/0",
        "an '@' after its host",
        True,
    ),
    "raw-hash-in-password": (
        f"redis://:{SECRET}#x@cache/0",
        "an '@' after its host",
        True,
    ),
    "fragment": ("redis://cache/0#x", "an '@' after its host", True),
    "space": ("redis://cache /0", "it has a space", True),
}


class TestRedactedUrl:
    @pytest.mark.parametrize(
        ("url", "expected"), REDACTED.values(), ids=REDACTED
    )
    def test_redacted(self, url: str, expected: str) -> None:
        """Credentials become ***; where the URL points stays."""
        assert expected == redacted_url(url)

    @pytest.mark.parametrize(
        ("url", "expected"), REDACTED.values(), ids=REDACTED
    )
    def test_idempotent(self, url: str, expected: str) -> None:
        """Redacting again changes nothing more."""
        assert expected == redacted_url(redacted_url(url))

    def test_hides_every_secret(self) -> None:
        """No table case shows its secret."""
        for url, _ in REDACTED.values():
            assert SECRET not in redacted_url(url)


class TestParse:
    @pytest.mark.parametrize(("url", "expected"), PARSED.values(), ids=PARSED)
    def test_parsed(
        self, url: str, expected: tuple[str, str, int | None, int, bool]
    ) -> None:
        """Each part, with redis-py's defaults for what is left out."""
        parsed = parse(url)

        assert expected == (
            parsed.scheme,
            parsed.host,
            parsed.port,
            parsed.db,
            parsed.tls,
        )
        assert url == parsed.url

    @pytest.mark.parametrize(
        ("url", "said", "quoted"), REFUSED.values(), ids=REFUSED
    )
    def test_refused(self, url: str, said: str, quoted: bool) -> None:
        """A URL redis-py cannot use, or would misread, is refused."""
        with pytest.raises(ValueError, match=r"^not a Redis URL") as info:
            parse(url)

        message = str(info.value)
        assert isinstance(info.value, RedisUrlError)
        assert said in message
        assert "redis://localhost:6379/0" in message
        assert SECRET not in message
        assert (repr(redacted_url(url))[:40] in message) is quoted
        assert (info.value.shown is not None) is quoted

    def test_repr_and_str_are_redacted(self) -> None:
        """Neither repr nor str of a parsed URL shows its password."""
        parsed = parse(f"rediss://alice:{SECRET}@[::1]:6380/2")

        assert "rediss://***@[::1]:6380/2" == str(parsed)
        assert (
            "RedisUrl(scheme='rediss', host='::1', port=6380, db=2, tls=True)"
            == repr(parsed)
        )
        assert SECRET not in f"{parsed} {parsed!r} {[parsed]}"

    def test_frozen(self) -> None:
        """A parsed URL cannot change."""
        parsed = parse("redis://cache")

        with pytest.raises(AttributeError):
            parsed.db = 3  # type: ignore[misc]

    def test_equal_by_value(self) -> None:
        """The same URL parses to equal values."""
        assert parse("redis://cache/1") == RedisUrl(
            scheme="redis",
            host="cache",
            port=6379,
            db=1,
            tls=False,
            url="redis://cache/1",
        )


# -- passwords hypothesis draws -------------------------------------------

#: Passwords with what breaks URLs: @ : / ? # & = % and spaces, letters
#: of any script, escapes.
PASSWORDS = st.text(
    alphabet=st.one_of(
        st.sampled_from("@:/?#&=%+[] ;\\'\"$"),
        st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
    ),
    min_size=6,
    max_size=40,
)


def _forms(password: str) -> dict[str, str]:
    """The ways a URL carries *password*: raw, encoded, as a parameter."""
    encoded = quote(password, safe="")
    return {
        "raw-userinfo": f"redis://alice:{password}@cache.internal:6380/3",
        "raw-password-only": f"redis://:{password}@cache.internal/3",
        "encoded-userinfo": f"rediss://:{encoded}@[::1]:6380/3",
        "encoded-parameter": f"redis://cache.internal/3?password={encoded}",
        "raw-parameter": f"redis://cache.internal/3?db=1&password={password}",
        "unix": f"unix://:{encoded}@/tmp/redis.sock?db=2",
        "other-scheme": f"http://:{password}@cache.internal/3",
        "bad-port": f"redis://:{password}@cache.internal:99999/3",
        "bad-db": f"redis://:{encoded}@cache.internal/x3",
    }


def _shown(url: str) -> list[str]:
    """Every text that shows *url*: redacted, parsed, refused, loaded."""
    texts = [redacted_url(url)]
    try:
        parsed = parse(url)
    except ValueError as exc:
        texts.append(str(exc))
    else:
        texts += [str(parsed), repr(parsed)]
    try:
        config = parse_config(
            "version: 1\nchannels: {}\nroutes: []\n"
            "delivery:\n  relay: ${POLYBOT_REDIS_URL}\n",
            "routing.yaml",
            environ={"POLYBOT_REDIS_URL": url},
        )
    except ConfigError as exc:
        texts += [str(exc), *exc.problems]
    else:
        texts += [repr(config.delivery), repr(config)]
    return texts


#: Everything that may be shown when the password is not: the texts of
#: every form with a password that is only HIDDEN's own characters. A
#: password found in it (``***@cac``) is one we cannot tell from a leak.
_REFERENCE = "\n".join(t for u in _forms("*").values() for t in _shown(u))


@given(password=PASSWORDS, form=st.sampled_from(sorted(_forms("x"))))
@example(password="p@ss:w0rd", form="raw-userinfo")
@example(password="p%40ssw0rd", form="raw-userinfo")
@example(password="p%40ssw0rd", form="encoded-userinfo")
@example(password="a/b?c#d@e", form="raw-password-only")
@example(password="a&b=c#d", form="raw-parameter")
@example(password="&=::::", form="raw-parameter")
def test_password_never_shown(password: str, form: str) -> None:
    """
    Whatever the password, no text made from its URL holds it.

    Encoded, it must not show either way: as written, or decoded.
    """
    secrets = {password, quote(password, safe="")}
    assume(not any(s in _REFERENCE or HIDDEN in s for s in secrets))
    url = _forms(password)[form]

    for text in _shown(url):
        for secret in secrets:
            assert secret not in text
