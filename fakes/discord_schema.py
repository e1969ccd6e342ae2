"""
Test oracle for Discord message request bodies, and for the answers.

Every webhook body our tests see can be checked here, independently of the
library's own code. Two questions are kept apart:

- What Discord itself answers ``400`` for: :func:`discord_errors`, which is
  :func:`schema_errors` (``IncomingWebhookRequestPartial`` from Discord's
  OpenAPI spec, as published, nullables and all; the subset in
  ``openapi-subset.json``, made by ``extract_openapi_subset.py``) and
  :func:`limit_errors` (the limits the spec lacks, written from
  ``shared/DISCORD-API.md`` sections 1 to 3, never from
  ``polybot_loghandler._limits``: the 6000-character total across embeds,
  lengths counted after trimming whitespace, non-blank field names and
  values, an empty message, ``parse`` beside a non-empty list of the same
  mention type, a ``username`` containing ``discord`` or ``clyde``). The
  fake Discord answers with these alone. Edits are checked the same way
  by :func:`edit_errors`, against ``IncomingWebhookUpdateRequestPartial``
  (a webhook's edit) or ``MessageEditRequestPartial`` (a bot's).
- Our own, stricter rules for the bodies this library sends:
  :func:`rule_errors` (``allowed_mentions`` always sent, with an explicit
  ``parse`` list; no ``null`` anywhere). Discord accepts bodies that break
  them; the fake records such bodies for the tests to fail on. An edit
  also keeps to :func:`edit_rule_errors` (nothing an edit cannot change,
  such as ``username``, which Discord ignores there).

:func:`payload_errors` is both, for tests of our own payloads; use
:func:`assert_valid_payload` there. :func:`pings` tells who Discord would
notify for an accepted body. :func:`response_errors` checks a Message
object the fake answers against Discord's ``MessageResponse``.
"""

from __future__ import annotations

import json
import re
import reprlib
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry
from referencing.jsonschema import DRAFT202012

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from jsonschema.exceptions import ValidationError

SUBSET_PATH = Path(__file__).with_name("openapi-subset.json")
SUBSET_URI = "urn:discord-api-spec:openapi-subset"
ROOT_SCHEMA_REF = "#/components/schemas/IncomingWebhookRequestPartial"
#: Schema names in the subset (``extract_openapi_subset.ROOT_SCHEMAS``).
EXECUTE_SCHEMA = "IncomingWebhookRequestPartial"
WEBHOOK_EDIT_SCHEMA = "IncomingWebhookUpdateRequestPartial"
BOT_EDIT_SCHEMA = "MessageEditRequestPartial"
RESPONSE_SCHEMA = "MessageResponse"
#: A command of Bulk Overwrite Application Commands' body, and the command
#: Discord answers with.
COMMAND_SCHEMA = "ApplicationCommandUpdateRequest"
COMMAND_RESPONSE_SCHEMA = "ApplicationCommandResponse"
#: Create Interaction Response's body is a union of these, one per callback
#: ``type`` (each branch's ``type`` is an enum of its own).
CALLBACK_SCHEMAS = {
    1: "PongInteractionCallbackRequest",
    4: "CreateMessageInteractionCallbackRequest",
    5: "CreateMessageInteractionCallbackRequest",
    6: "UpdateMessageInteractionCallbackRequest",
    7: "UpdateMessageInteractionCallbackRequest",
    8: "ApplicationCommandAutocompleteCallbackRequest",
    9: "ModalInteractionCallbackRequest",
    12: "LaunchActivityInteractionCallbackRequest",
    13: "SocialLayerSKUPurchaseEligibilityInteractionCallbackRequest",
}
#: Callback types whose ``data`` is a new message, and an edit of one.
MESSAGE_CALLBACK, UPDATE_CALLBACK = 4, 7
#: The body of Bulk Overwrite Application Commands holds at most this many
#: (the spec's ``maxItems``).
MAX_COMMANDS_PER_REQUEST = 130
#: Application command types: chat input (slash), user, message.
CHAT_INPUT, USER_COMMAND, MESSAGE_COMMAND = 1, 2, 3
#: Option types that hold options of their own.
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
MAX_COMMAND_DESCRIPTION = 100
#: Characters a chat-input command's (and any option's) name may have,
#: besides letters and numbers (Unicode categories L and N): discord-api-
#: docs' Application Command Naming gives
#: ``^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$``, lower case wherever
#: a letter has a lower-case form.
NAME_PUNCTUATION = frozenset("-_'")
#: The Devanagari and Thai blocks, for ``\p{sc=Deva}`` and ``\p{sc=Thai}``.
NAME_SCRIPTS = ((0x0900, 0x097F), (0x0E00, 0x0E7F))
#: Discord's messages for the command rules the schema lacks, as seen in
#: 50035 answers (``APPLICATION_COMMAND_INVALID_NAME``,
#: ``APPLICATION_COMMANDS_DUPLICATE_NAME``,
#: ``APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID``).
INVALID_NAME = "Command name is invalid"
DUPLICATE_NAME = "Application command names must be unique"
REQUIRED_FIRST = "Required options must be placed before non-required options"
#: Execute Webhook fields an edit cannot change. Neither edit schema has
#: ``additionalProperties: false``, and Discord ignores unknown keys, so
#: an edit carrying them is accepted; our own rules forbid sending them.
NOT_EDITABLE = ("username", "avatar_url", "thread_name", "applied_tags", "tts")
#: Substrings Discord refuses in a webhook's ``username``, case-insensitive
#: (``USERNAME_INVALID_CONTAINS``, seen in Xujiayao/Discord-MC-Chat#286).
FORBIDDEN_IN_USERNAME = ("discord", "clyde")

# DISCORD-API.md section 2 (embed limits, inclusive, counted after trim).
MAX_EMBEDS_PER_MESSAGE = 10
MAX_EMBED_TITLE = 256
MAX_EMBED_DESCRIPTION = 4096
MAX_EMBED_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER_TEXT = 2048
MAX_AUTHOR_NAME = 256
MAX_EMBED_TOTAL_CHARACTERS = 6000
MAX_EMBED_COLOR = 0xFFFFFF
# DISCORD-API.md section 3.
MAX_CONTENT = 2000
# allowed_mentions types that also have a list form (parse "x" vs "x": []).
MENTION_LIST_FORMS = ("roles", "users")
#: The line :func:`limit_errors` gives for a message with nothing to show;
#: Discord answers it with ``50006 Cannot send an empty message``.
EMPTY_MESSAGE = (
    "limit: <root>: needs non-blank content, an embed, a component or a poll"
)
# DISCORD-API.md section 3: what each default parses when allowed_mentions
# is not sent (or sent as null): a bot message parses every type, a
# webhook message only user mentions.
WEBHOOK_DEFAULT_PARSE = frozenset({"users"})
BOT_DEFAULT_PARSE = frozenset({"users", "roles", "everyone"})
# Mention syntax in content (DISCORD-API.md section 3, [REF]).
_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_EVERYONE_MENTION = re.compile(r"@(?:everyone|here)")
# Code spans and blocks: ```...```, ``...`` and `...`; an unclosed fence
# is plain text. Mentions inside them are not counted (see pings()).
_CODE = re.compile(r"(`{1,3})(?:(?!\1).)+?\1", re.DOTALL)

_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxstring = 40
_SHORT_REPR.maxother = 60


@cache
def _validator(root: str = EXECUTE_SCHEMA) -> Draft202012Validator:
    """
    Build the validator for the subset's schema *root*, once per root.

    Args:
        root: A schema name, e.g. ``IncomingWebhookRequestPartial``.

    Returns:
        A Draft 2020-12 validator with the subset registered and formats
        checked.

    Raises:
        RuntimeError: If ``date-time`` cannot be checked, which would make
            the timestamp check pass silently.
    """
    subset = json.loads(SUBSET_PATH.read_text(encoding="utf-8"))
    registry: Registry[Any] = Registry().with_resource(
        SUBSET_URI, DRAFT202012.create_resource(subset)
    )
    format_checker = FormatChecker()
    if "date-time" not in format_checker.checkers:
        # jsonschema checks date-time only when rfc3339-validator is there
        raise RuntimeError(
            "jsonschema cannot check format 'date-time': "
            "install rfc3339-validator (jsonschema[format])"
        )
    schema = {"$ref": f"{SUBSET_URI}#/components/schemas/{root}"}
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(
        schema, registry=registry, format_checker=format_checker
    )


def _json_path(path: Iterable[str | int]) -> str:
    """
    Render a JSON location as ``embeds[0].fields[2].value``.

    Args:
        path: Keys and indexes from the document root.

    Returns:
        The dotted path, or ``<root>`` for the document itself.
    """
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "<root>"


def _path_key(path: Iterable[str | int]) -> list[tuple[int, int, str]]:
    """
    Make a sort key that orders ``fields[2]`` before ``fields[10]``.

    Args:
        path: Keys and indexes from the document root.

    Returns:
        A list comparing indexes numerically and keys alphabetically.
    """
    return [
        (0, part, "") if isinstance(part, int) else (1, 0, part)
        for part in path
    ]


def _is_null_branch(errors: list[ValidationError]) -> bool:
    """
    Tell whether *errors* only say "not null", from a nullable ``oneOf``.

    Args:
        errors: The errors of one ``oneOf``/``anyOf`` branch.

    Returns:
        True if the branch was ``{"type": "null"}`` and nothing else failed.
    """
    return len(errors) == 1 and errors[0].validator_value == "null"


def _leaf_errors(error: ValidationError) -> list[ValidationError]:
    """
    Descend through ``oneOf``/``anyOf`` errors to the one that matters.

    The spec wraps most objects as ``oneOf: [{type: null}, {$ref: X}]``;
    when only one non-null branch failed, its own errors are the useful
    ones. With several candidate branches the combined error is kept.

    Args:
        error: A validation error, possibly with sub-errors in ``context``.

    Returns:
        The errors to report for *error*.
    """
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context or ():
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    failing = [errs for errs in branches.values() if not _is_null_branch(errs)]
    if len(failing) != 1:
        return [error]
    return [leaf for sub in failing[0] for leaf in _leaf_errors(sub)]


def _integer_snowflake(error: ValidationError) -> bool:
    """
    Tell whether *error* only says a snowflake is an integer.

    The spec types ``SnowflakeType`` a string, but Discord takes an
    integer too: its own Uploading Files example sends an attachment's
    ``"id": 0`` (discord-api-docs ``reference.mdx``).

    Args:
        error: A leaf validation error.

    Returns:
        True for a ``type`` error on a snowflake holding an integer >= 0.
    """
    value = error.instance
    return (
        error.validator == "type"
        and isinstance(error.schema, dict)
        and error.schema.get("format") == "snowflake"
        and isinstance(value, int)
        and not isinstance(value, bool)
        and value >= 0
    )


def _describe(error: ValidationError) -> str:
    """
    Turn one schema error into a short line naming where and why.

    Args:
        error: A leaf validation error from jsonschema.

    Returns:
        ``schema: path: message``, with long values abbreviated and sizes
        stated for length and count limits.
    """
    message = error.message.replace(
        repr(error.instance), _SHORT_REPR.repr(error.instance)
    )
    sized = {"maxLength", "minLength", "maxItems", "minItems"}
    if error.validator in sized and isinstance(error.instance, (str, list)):
        message += (
            f" (length {len(error.instance)}, "
            f"{error.validator} {error.validator_value})"
        )
    return f"schema: {_json_path(error.absolute_path)}: {message}"


def schema_errors(
    payload: dict[str, Any], root: str = EXECUTE_SCHEMA
) -> list[str]:
    """
    Validate *payload* against Discord's ``IncomingWebhookRequestPartial``.

    Validates against that schema directly rather than the operation's
    ``anyOf``, whose update branch accepts e.g. an 81-character username.

    Args:
        payload: A decoded Execute Webhook JSON body.
        root: Another schema of the subset to validate against instead,
            e.g. :data:`WEBHOOK_EDIT_SCHEMA` for an edit's body.

    Returns:
        One line per error, sorted by location; empty when valid.
    """
    leaves = [
        leaf
        for error in _validator(root).iter_errors(payload)
        for leaf in _leaf_errors(error)
        if not _integer_snowflake(leaf)
    ]
    leaves.sort(key=lambda leaf: (_path_key(leaf.absolute_path), leaf.message))
    return [_describe(leaf) for leaf in leaves]


def _text_length(value: Any) -> int:
    """
    Count characters the way Discord's limits do: after trimming.

    Args:
        value: A text field's value; anything else counts as empty.

    Returns:
        The length of the stripped string, or 0 for non-strings.
    """
    return len(value.strip()) if isinstance(value, str) else 0


def _dict_items(value: Any) -> list[dict[str, Any]]:
    """
    Return the objects in *value* if it is a list, else nothing.

    Args:
        value: A value that should be a list of objects.

    Returns:
        The dict items; others are left for the schema to report.
    """
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, dict)]


def _sub(obj: Any, key: str) -> Any:
    """
    Return ``obj[key]`` when *obj* is an object, else ``None``.

    Args:
        obj: A value that should be an object.
        key: The key to read.

    Returns:
        The value, or ``None`` when absent or *obj* is not an object.
    """
    return obj.get(key) if isinstance(obj, dict) else None


def _too_long(where: str, value: Any, limit: int) -> Iterator[str]:
    """
    Yield an error if the trimmed text at *where* is over *limit*.

    Args:
        where: The JSON path to name in the message.
        value: The field's value.
        limit: Discord's inclusive maximum.

    Yields:
        At most one error line.
    """
    length = _text_length(value)
    if length > limit:
        yield f"{where}: {length} characters after trim, limit {limit}"


def _embed_errors(index: int, embed: dict[str, Any]) -> Iterator[str]:
    """
    Check one embed's own limits (not the message-wide total).

    Args:
        index: The embed's position in ``embeds``.
        embed: The embed object.

    Yields:
        One error line per problem.
    """
    at = f"embeds[{index}]"
    yield from _too_long(f"{at}.title", embed.get("title"), MAX_EMBED_TITLE)
    yield from _too_long(
        f"{at}.description", embed.get("description"), MAX_EMBED_DESCRIPTION
    )
    footer_text = _sub(embed.get("footer"), "text")
    yield from _too_long(f"{at}.footer.text", footer_text, MAX_FOOTER_TEXT)
    author_name = _sub(embed.get("author"), "name")
    yield from _too_long(f"{at}.author.name", author_name, MAX_AUTHOR_NAME)
    if "color" in embed and embed["color"] is not None:
        color = embed["color"]
        # bool is an int in Python but not in JSON
        if (
            not isinstance(color, int)
            or isinstance(color, bool)
            or not 0 <= color <= MAX_EMBED_COLOR
        ):
            yield f"{at}.color: {color!r} is not an integer 0..0xFFFFFF"
    fields = embed.get("fields")
    if isinstance(fields, list) and len(fields) > MAX_EMBED_FIELDS:
        yield f"{at}.fields: {len(fields)} fields, limit {MAX_EMBED_FIELDS}"
    for number, field in enumerate(_dict_items(fields)):
        where = f"{at}.fields[{number}]"
        for key, limit in (
            ("name", MAX_FIELD_NAME),
            ("value", MAX_FIELD_VALUE),
        ):
            if _text_length(field.get(key)) == 0:
                yield f"{where}.{key}: missing or blank"
            yield from _too_long(f"{where}.{key}", field.get(key), limit)


def _embed_total(embed: dict[str, Any]) -> int:
    """
    Count the characters of *embed* that Discord's 6000 total covers.

    Args:
        embed: The embed object.

    Returns:
        Title, description, field names and values, footer text and author
        name, each counted after trimming.
    """
    total = _text_length(embed.get("title"))
    total += _text_length(embed.get("description"))
    total += _text_length(_sub(embed.get("footer"), "text"))
    total += _text_length(_sub(embed.get("author"), "name"))
    for field in _dict_items(embed.get("fields")):
        total += _text_length(field.get("name"))
        total += _text_length(field.get("value"))
    return total


def _mention_conflicts(payload: dict[str, Any]) -> Iterator[str]:
    """
    Check ``allowed_mentions`` the way Discord does, beyond its schema.

    Discord rejects ``parse`` naming a type whose list form is also given
    with ids; an empty or null list beside it is accepted.

    Args:
        payload: The request body.

    Yields:
        One error line per conflict.
    """
    mentions = payload.get("allowed_mentions")
    parse = _sub(mentions, "parse")
    if not isinstance(parse, list):
        return
    for kind in MENTION_LIST_FORMS:
        if kind in parse and _sub(mentions, kind):
            yield (
                f"allowed_mentions: parse contains {kind!r} and "
                f"{kind} is also given"
            )


def message_is_empty(message: dict[str, Any], files: int = 0) -> bool:
    """
    Tell whether *message* has nothing Discord could show.

    Discord needs one of content, embeds, components, a file or a poll
    (DISCORD-API.md section 1); files come only in multipart bodies.

    Args:
        message: A request body, or a message's state after an edit.
        files: How many files it carries (uploaded or kept).

    Returns:
        True when content is blank and no embed, component, poll or file
        is there.
    """
    return (
        files == 0
        and _text_length(message.get("content")) == 0
        and not _dict_items(message.get("embeds"))
        and not _dict_items(message.get("components"))
        and not isinstance(message.get("poll"), dict)
    )


def _username_errors(payload: dict[str, Any]) -> Iterator[str]:
    """
    Check ``username`` for the words Discord refuses in it.

    Args:
        payload: The request body.

    Yields:
        ``username: Username cannot contain "discord"`` and the like,
        Discord's own message.
    """
    name = payload.get("username")
    if not isinstance(name, str):
        return
    for word in FORBIDDEN_IN_USERNAME:
        if word in name.lower():
            yield f'username: Username cannot contain "{word}"'


def limit_errors(payload: dict[str, Any]) -> list[str]:
    """
    Check the Discord limits that the OpenAPI schema lacks or leaves implicit.

    Written from ``shared/DISCORD-API.md`` sections 1 to 3: Discord answers
    ``400`` for each of these. Text lengths are counted after trimming
    leading and trailing whitespace. Values of the wrong type are skipped
    here; :func:`schema_errors` reports them.

    Args:
        payload: A decoded Execute Webhook JSON body.

    Returns:
        One line per problem, in a stable order; empty when within limits.
        An empty message gives :data:`EMPTY_MESSAGE`.
    """
    lines = _limit_lines(payload)
    lines.extend(f"limit: {error}" for error in _username_errors(payload))
    if message_is_empty(payload):
        lines.append(EMPTY_MESSAGE)
    return lines


def _limit_lines(payload: dict[str, Any]) -> list[str]:
    """
    Check the limits a body has whether it makes a message or edits one.

    Args:
        payload: A decoded Execute Webhook or edit JSON body.

    Returns:
        ``limit: ...`` lines for content, embeds and ``allowed_mentions``.
    """
    errors: list[str] = []
    content = payload.get("content")
    errors.extend(_too_long("content", content, MAX_CONTENT))
    raw_embeds = payload.get("embeds")
    embeds = _dict_items(raw_embeds)
    if (
        isinstance(raw_embeds, list)
        and len(raw_embeds) > MAX_EMBEDS_PER_MESSAGE
    ):
        errors.append(
            f"embeds: {len(raw_embeds)} embeds, limit {MAX_EMBEDS_PER_MESSAGE}"
        )
    for index, embed in enumerate(embeds):
        errors.extend(_embed_errors(index, embed))
    total = sum(_embed_total(embed) for embed in embeds)
    if total > MAX_EMBED_TOTAL_CHARACTERS:
        errors.append(
            f"embeds: {total} characters in total across embeds, "
            f"limit {MAX_EMBED_TOTAL_CHARACTERS}"
        )
    errors.extend(_mention_conflicts(payload))
    return [f"limit: {error}" for error in errors]


def discord_errors(payload: dict[str, Any]) -> list[str]:
    """
    Return every reason Discord would answer ``400`` to *payload*.

    Args:
        payload: A decoded Execute Webhook JSON body.

    Returns:
        :func:`schema_errors` followed by :func:`limit_errors`.
    """
    return schema_errors(payload) + limit_errors(payload)


def edit_errors(payload: dict[str, Any], *, bot: bool = False) -> list[str]:
    """
    Return every reason Discord would answer ``400`` to an edit's body.

    The body is checked against ``IncomingWebhookUpdateRequestPartial``
    (``MessageEditRequestPartial`` for a bot) and the limits of
    :func:`limit_errors` that concern what an edit may carry. Whether the
    edited message is left empty depends on the message too: the caller
    checks that with :func:`message_is_empty`. Keys the schema does not
    name (``username``, ``thread_name``) are no error: the schema allows
    other keys, and Discord ignores them.

    Args:
        payload: A decoded edit JSON body.
        bot: Whether a bot edits its message (else a webhook).

    Returns:
        Schema lines followed by limit lines; empty when Discord takes it.
    """
    root = BOT_EDIT_SCHEMA if bot else WEBHOOK_EDIT_SCHEMA
    return schema_errors(payload, root) + _limit_lines(payload)


def _name_char(char: str) -> bool:
    """
    Tell whether *char* may be in a chat-input command's name.

    Args:
        char: One character.

    Returns:
        True for a letter, a number, ``-``, ``_``, ``'``, or a character
        of the Devanagari or Thai script.
    """
    code = ord(char)
    return (
        char in NAME_PUNCTUATION
        or unicodedata.category(char)[0] in "LN"
        or any(low <= code <= high for low, high in NAME_SCRIPTS)
    )


def _valid_name(name: Any) -> bool:
    """
    Tell whether *name* is a valid chat-input command or option name.

    Lengths are the schema's to check; this is the character rule.

    Args:
        name: The ``name`` sent.

    Returns:
        True when every character is allowed and no letter that has a
        lower-case form is upper case; also for a non-string (the schema
        reports that).
    """
    if not isinstance(name, str):
        return True
    return all(map(_name_char, name)) and name == name.lower()


def _option_errors(where: str, options: Any) -> Iterator[str]:
    """
    Check a chat-input command's options beyond the schema, recursively.

    Args:
        where: The options' JSON path, e.g. ``[0].options``.
        options: The ``options`` value sent.

    Yields:
        ``path: message`` lines: names by the naming rule, required
        options before optional ones, sub-commands' options likewise.
    """
    seen_optional = False
    for index, option in enumerate(_dict_items(options)):
        at = f"{where}[{index}]"
        if not _valid_name(option.get("name")):
            yield f"{at}.name: {INVALID_NAME}"
        if option.get("type") in {SUB_COMMAND, SUB_COMMAND_GROUP}:
            yield from _option_errors(f"{at}.options", option.get("options"))
            continue
        if option.get("required") and seen_optional:
            yield f"{at}: {REQUIRED_FIRST}"
        seen_optional = seen_optional or not option.get("required")


def command_errors(commands: Any) -> list[str]:
    """
    Return every reason Discord would answer ``400 50035`` to *commands*.

    *commands* is the body of Bulk Overwrite (Guild) Application
    Commands: an array of ``ApplicationCommandUpdateRequest`` (at most
    130; ``null`` clears). Besides the schema (name 1-32 characters,
    description at most 100, at most 25 options and 25 choices), the
    rules of discord-api-docs ``application-commands.mdx`` the schema
    lacks: a chat-input command's name and its options' names by the
    naming rule (:func:`_valid_name`), its description 1-100 characters,
    required options first, and names unique per command type. How many
    commands a guild may have is the caller's to check (it is no 50035).

    Args:
        commands: The decoded JSON body.

    Returns:
        ``schema:``/``limit:`` lines whose paths start at the array, e.g.
        ``[0].name``; empty when Discord takes the body.
    """
    if commands is None:
        return []
    if not isinstance(commands, list):
        return ["schema: <root>: must be an array of commands"]
    errors: list[str] = []
    if len(commands) > MAX_COMMANDS_PER_REQUEST:
        errors.append(
            f"limit: <root>: Must be {MAX_COMMANDS_PER_REQUEST} or fewer "
            "in length."
        )
    named: dict[tuple[Any, Any], int] = {}
    for index, command in enumerate(commands):
        at = f"[{index}]"
        if not isinstance(command, dict):
            errors.append(f"schema: {at}: must be an object")
            continue
        errors.extend(
            line.replace(": ", f": {at}.", 1).replace(f"{at}.<root>", at)
            for line in schema_errors(command, COMMAND_SCHEMA)
        )
        kind = command.get("type") or CHAT_INPUT
        key = (kind, command.get("name"))
        if key in named:
            errors.append(f"limit: {at}: {DUPLICATE_NAME}")
        named.setdefault(key, index)
        if kind != CHAT_INPUT:
            continue
        if not _valid_name(command.get("name")):
            errors.append(f"limit: {at}.name: {INVALID_NAME}")
        description = command.get("description")
        if not isinstance(description, str) or not description:
            errors.append(
                f"limit: {at}.description: Must be between 1 and "
                f"{MAX_COMMAND_DESCRIPTION} in length."
            )
        errors.extend(
            f"limit: {line}"
            for line in _option_errors(f"{at}.options", command.get("options"))
        )
    return errors


def callback_errors(payload: dict[str, Any]) -> list[str]:
    """
    Return every reason Discord would answer ``400`` to a callback body.

    Create Interaction Response's body is one of :data:`CALLBACK_SCHEMAS`,
    picked by its ``type``. The ``data`` of a new message (type 4) keeps
    to :func:`limit_errors` too, :data:`EMPTY_MESSAGE` included; that of
    an update (type 7) to the limits of an edit (whether the message is
    left empty is the caller's to check, as for :func:`edit_errors`).

    Args:
        payload: A decoded Create Interaction Response body.

    Returns:
        Schema lines, then limit lines with paths under ``data``; empty
        when Discord takes it.
    """
    kind = payload.get("type")
    root = CALLBACK_SCHEMAS.get(kind) if isinstance(kind, int) else None
    if root is None:
        valid = ", ".join(map(str, CALLBACK_SCHEMAS))
        return [f"schema: type: Value must be one of ({valid})."]
    errors = schema_errors(payload, root)
    data = payload.get("data")
    if kind == MESSAGE_CALLBACK:
        limits = limit_errors(data if isinstance(data, dict) else {})
    elif kind == UPDATE_CALLBACK and isinstance(data, dict):
        limits = _limit_lines(data)
    else:
        limits = []
    errors.extend(
        line if line == EMPTY_MESSAGE else line.replace(": ", ": data.", 1)
        for line in limits
    )
    return errors


def callback_rule_errors(payload: dict[str, Any]) -> list[str]:
    """
    Check our own rules for a callback body's message.

    The ``data`` of a new message (type 4) keeps to :func:`rule_errors`,
    that of an update (type 7) to :func:`edit_rule_errors`; other types
    carry no message.

    Args:
        payload: A decoded Create Interaction Response body.

    Returns:
        One ``rule: ...`` line per problem, paths under ``data``.
    """
    data = payload.get("data")
    kind = payload.get("type")
    if kind == MESSAGE_CALLBACK:
        broken = rule_errors(data if isinstance(data, dict) else {})
    elif kind == UPDATE_CALLBACK:
        broken = edit_rule_errors(data if isinstance(data, dict) else {})
    else:
        return []
    return [line.replace("rule: ", "rule: data.", 1) for line in broken]


def _null_paths(value: Any, path: str) -> Iterator[str]:
    """
    Yield the location of every ``null`` inside *value*.

    Args:
        value: A decoded JSON value.
        path: Its location, as :func:`_json_path` writes it.

    Yields:
        ``embeds[0].footer`` and the like.
    """
    if value is None:
        yield path or "<root>"
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _null_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _null_paths(item, f"{path}[{index}]")


def rule_errors(payload: dict[str, Any]) -> list[str]:
    """
    Check our own rules for the bodies this library sends.

    Discord accepts bodies that break these; we do not send them:

    - ``allowed_mentions`` is always an object with a ``parse`` list,
      because without it a webhook parses user mentions in ``content``
      (and a bot message every mention);
    - ``parse`` never names a type whose list form is also given, even as
      an empty list;
    - no ``null`` anywhere: we leave a part out instead.

    Args:
        payload: A decoded Execute Webhook JSON body.

    Returns:
        One ``rule: ...`` line per problem; empty when every rule holds.
    """
    errors: list[str] = []
    mentions = payload.get("allowed_mentions")
    parse = _sub(mentions, "parse")
    if not isinstance(mentions, dict):
        errors.append(
            "allowed_mentions: must be sent as an object, e.g. "
            f'{{"parse": []}}, got {mentions!r}'
        )
    elif not isinstance(parse, list):
        errors.append(
            f"allowed_mentions.parse: must be an explicit list, got {parse!r}"
        )
    else:
        errors.extend(
            f"allowed_mentions: parse contains {kind!r} and {kind} is "
            "also given"
            for kind in MENTION_LIST_FORMS
            if kind in parse and mentions.get(kind) is not None
        )
    errors.extend(
        f"{where}: null; leave the part out instead"
        for where in _null_paths(payload, "")
    )
    return [f"rule: {error}" for error in errors]


def edit_rule_errors(payload: dict[str, Any]) -> list[str]:
    """
    Check our own rules for an edit's body.

    Those of :func:`rule_errors` (an edit without ``allowed_mentions``
    parses its new content with the defaults, whatever the first message
    said), and no field an edit cannot change (:data:`NOT_EDITABLE`):
    Discord ignores them, so sending one means expecting what won't come.
    ``"tts": false`` is the exception: it expects nothing an edit does not
    give, and discord.py sends it with every body, edits too.

    Args:
        payload: A decoded edit JSON body.

    Returns:
        One ``rule: ...`` line per problem; empty when every rule holds.
    """
    errors = rule_errors(payload)
    errors.extend(
        f"rule: {key}: an edit cannot change it; Discord ignores it"
        for key in NOT_EDITABLE
        if key in payload and not (key == "tts" and payload[key] is False)
    )
    return errors


def response_errors(message: dict[str, Any]) -> list[str]:
    """
    Check a Message object against Discord's ``MessageResponse``.

    Tests of the fake use it: what the fake answers has the shape of
    what Discord answers.

    Args:
        message: A decoded Message object.

    Returns:
        One line per error, sorted by location; empty when it conforms.
    """
    return schema_errors(message, RESPONSE_SCHEMA)


def payload_errors(payload: dict[str, Any]) -> list[str]:
    """
    Return every problem with *payload* as a body of ours.

    Args:
        payload: A decoded Execute Webhook JSON body.

    Returns:
        :func:`discord_errors` followed by :func:`rule_errors`.
    """
    return discord_errors(payload) + rule_errors(payload)


@dataclass(frozen=True, slots=True)
class Pings:
    """
    Who one message notifies.

    Attributes:
        everyone: ``@everyone`` or ``@here`` is parsed.
        users: Ids of the users pinged, in order of first mention.
        roles: Ids of the roles pinged, in order of first mention.
    """

    everyone: bool = False
    users: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        """
        Tell whether anyone is notified.

        Returns:
            True if the message pings anyone.
        """
        return self.everyone or bool(self.users or self.roles)


def _ids(value: Any) -> set[str]:
    """
    Return the ids listed in an ``allowed_mentions`` list form.

    Args:
        value: The ``users`` or ``roles`` value, maybe absent or null.

    Returns:
        The ids as strings; nothing when *value* is not a list.
    """
    if not isinstance(value, list):
        return set()
    return {str(item) for item in value if isinstance(item, (str, int))}


def _unique(
    found: list[str], allowed: Callable[[str], bool]
) -> tuple[str, ...]:
    """
    Keep the allowed ids of *found*, each once, in order.

    Args:
        found: Ids in order of mention.
        allowed: Whether an id may be pinged.

    Returns:
        The ids pinged.
    """
    return tuple(dict.fromkeys(i for i in found if allowed(i)))


def pings(payload: dict[str, Any], *, webhook: bool = True) -> Pings:
    """
    Tell who Discord would notify for an accepted *payload*.

    Follows DISCORD-API.md section 3 and Discord's "Allowed Mentions
    Reference": mentions come from ``content`` only (not embeds). Without
    ``allowed_mentions`` (or with ``null``), a webhook parses user mentions
    only and a bot message every type; with an object, only the types in
    its ``parse`` list, plus the ids in its ``users`` and ``roles`` lists.
    It counts as if every role were mentionable and ``@everyone`` allowed.
    Mentions inside code spans and blocks are not counted: Discord does not
    document it either way, and not counting them never overstates.

    Args:
        payload: A decoded message body.
        webhook: Whether it was posted through a webhook (else a bot).

    Returns:
        Who would be pinged.
    """
    content = payload.get("content")
    if not isinstance(content, str):
        return Pings()
    text = _CODE.sub(" ", content)
    mentions = payload.get("allowed_mentions")
    if isinstance(mentions, dict):
        raw = mentions.get("parse")
        listed = raw if isinstance(raw, list) else []
        parse = {k for k in listed if isinstance(k, str)} & BOT_DEFAULT_PARSE
        users, roles = _ids(mentions.get("users")), _ids(mentions.get("roles"))
    else:
        parse = set(WEBHOOK_DEFAULT_PARSE if webhook else BOT_DEFAULT_PARSE)
        users = roles = set()
    return Pings(
        everyone="everyone" in parse
        and _EVERYONE_MENTION.search(text) is not None,
        users=_unique(
            _USER_MENTION.findall(text),
            lambda i: "users" in parse or i in users,
        ),
        roles=_unique(
            _ROLE_MENTION.findall(text),
            lambda i: "roles" in parse or i in roles,
        ),
    )


def assert_valid_payload(payload: dict[str, Any]) -> None:
    """
    Fail the test if *payload* is not a body of ours Discord would accept.

    Args:
        payload: A decoded Execute Webhook JSON body.

    Raises:
        AssertionError: Listing every problem found.
    """
    errors = payload_errors(payload)
    if errors:
        listing = "\n".join(f"  - {error}" for error in errors)
        raise AssertionError(
            f"invalid Discord webhook payload ({len(errors)} problems):\n"
            f"{listing}"
        )
