"""
Extract the message schemas the fake needs from Discord's OpenAPI spec.

Writes ``fakes/openapi-subset.json``: the roots in :data:`ROOT_SCHEMAS`
(the bodies of Execute Webhook, Edit Webhook Message and Edit Message,
and the Message object Discord answers with; an application's commands,
interaction callbacks, user and application) and every schema they reach
through ``$ref``, copied verbatim, so the ``#/components/schemas/...``
references still resolve inside the subset.
The output is deterministic (sorted keys, fixed indent), so re-running the
script on the same spec gives identical bytes.

Usage, from the repo root::

    python fakes/extract_openapi_subset.py [SPEC] [-o OUTPUT]

*SPEC* defaults to ``../shared/discord-api-spec/openapi.json`` relative to
the repo root.
When a ``SOURCE.txt`` sits beside the spec, its ``Commit:`` line is recorded.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SPEC = (
    REPO_ROOT / ".." / "shared" / "discord-api-spec" / "openapi.json"
)
DEFAULT_OUTPUT = Path(__file__).resolve().with_name("openapi-subset.json")

ROOT_SCHEMA = "IncomingWebhookRequestPartial"
#: Every schema the subset starts from: Execute Webhook's body (the first,
#: kept as :data:`ROOT_SCHEMA`), Edit Webhook Message's and a bot's Edit
#: Message's bodies, and ``MessageResponse``, which the fake's answers are
#: checked against. Then an application's: a command of Bulk Overwrite
#: Application Commands' body (the body is an array of them) and the
#: command Discord answers; each branch of Create Interaction Response's
#: body (the spec's union of them is inline, named by no schema) and its
#: answer with ``with_response``; Get Current User's and Get Current
#: Application's answers.
ROOT_SCHEMAS = (
    ROOT_SCHEMA,
    "IncomingWebhookUpdateRequestPartial",
    "MessageEditRequestPartial",
    "MessageResponse",
    "ApplicationCommandUpdateRequest",
    "ApplicationCommandResponse",
    "ApplicationCommandAutocompleteCallbackRequest",
    "CreateMessageInteractionCallbackRequest",
    "LaunchActivityInteractionCallbackRequest",
    "ModalInteractionCallbackRequest",
    "PongInteractionCallbackRequest",
    "SocialLayerSKUPurchaseEligibilityInteractionCallbackRequest",
    "UpdateMessageInteractionCallbackRequest",
    "InteractionCallbackResponse",
    "UserPIIResponse",
    "PrivateApplicationResponse",
)
REF_PREFIX = "#/components/schemas/"

SPEC_REPOSITORY = "https://github.com/discord/discord-api-spec"
SPEC_PATH_IN_REPOSITORY = "specs/openapi.json"
LICENSE_NOTE = (
    "Schemas copied verbatim from Discord's OpenAPI spec, "
    "MIT License, Copyright (c) Discord Inc. "
    "(https://github.com/discord/discord-api-spec, info.license: MIT). "
    "Subset for tests only; regenerate with "
    "fakes/extract_openapi_subset.py."
)

_COMMIT_LINE = re.compile(r"^Commit:\s*([0-9a-f]{40})\b", re.MULTILINE)


def iter_refs(node: Any) -> Iterator[str]:
    """
    Yield every ``$ref`` value found anywhere inside *node*.

    Args:
        node: A decoded JSON value (dict, list or scalar).

    Yields:
        The ``$ref`` strings, in document order.
    """
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from iter_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_refs(item)


def schema_closure(
    schemas: dict[str, Any], roots: str | Sequence[str] = ROOT_SCHEMAS
) -> dict[str, Any]:
    """
    Return *roots* and every schema they transitively reference.

    Args:
        schemas: The spec's ``components.schemas`` mapping.
        roots: Name of the schema to start from, or several names.

    Returns:
        A new mapping from schema name to schema, holding only the closure.

    Raises:
        ValueError: If a ``$ref`` points outside ``#/components/schemas/``
            or names a schema that does not exist.
    """
    closure: dict[str, Any] = {}
    pending = [roots] if isinstance(roots, str) else list(roots)
    while pending:
        name = pending.pop()
        if name in closure:
            continue
        if name not in schemas:
            raise ValueError(f"schema {name!r} is not in components.schemas")
        closure[name] = schemas[name]
        for ref in iter_refs(schemas[name]):
            if not ref.startswith(REF_PREFIX):
                raise ValueError(f"{name}: unsupported $ref {ref!r}")
            pending.append(ref.removeprefix(REF_PREFIX))
    return closure


def source_info(spec_bytes: bytes, source_txt: str | None) -> dict[str, Any]:
    """
    Describe where the subset comes from.

    Args:
        spec_bytes: The raw bytes of the spec file.
        source_txt: Contents of the ``SOURCE.txt`` beside the spec, if any.

    Returns:
        The ``source`` object written at the top of the subset.
    """
    match = _COMMIT_LINE.search(source_txt or "")
    spec = json.loads(spec_bytes)
    return {
        "commit": match.group(1) if match else "unknown",
        "info_version": spec.get("info", {}).get("version"),
        "license": LICENSE_NOTE,
        "path": SPEC_PATH_IN_REPOSITORY,
        "repository": SPEC_REPOSITORY,
        "roots": [REF_PREFIX + root for root in ROOT_SCHEMAS],
        "spec_sha1": hashlib.sha1(
            spec_bytes, usedforsecurity=False
        ).hexdigest(),
    }


def build_subset(spec_bytes: bytes, source_txt: str | None) -> dict[str, Any]:
    """
    Build the subset document from the raw spec.

    Args:
        spec_bytes: The raw bytes of Discord's ``openapi.json``.
        source_txt: Contents of the ``SOURCE.txt`` beside the spec, if any.

    Returns:
        ``{"source": {...}, "components": {"schemas": {...}}}``.
    """
    spec = json.loads(spec_bytes)
    schemas = schema_closure(spec["components"]["schemas"])
    return {
        "components": {"schemas": schemas},
        "source": source_info(spec_bytes, source_txt),
    }


def render(subset: dict[str, Any]) -> str:
    """
    Serialise *subset* deterministically.

    Args:
        subset: The document returned by :func:`build_subset`.

    Returns:
        Indented JSON with sorted keys and a trailing newline.
    """
    return json.dumps(subset, indent=1, sort_keys=True) + "\n"


def extract(spec_path: Path) -> str:
    """
    Read the spec at *spec_path* and return the rendered subset.

    Args:
        spec_path: Path to Discord's ``openapi.json``.

    Returns:
        The subset as text, ready to write.
    """
    source_file = spec_path.with_name("SOURCE.txt")
    source_txt = (
        source_file.read_text(encoding="utf-8")
        if source_file.is_file()
        else None
    )
    return render(build_subset(spec_path.read_bytes(), source_txt))


def main(argv: Sequence[str] | None = None) -> int:
    """
    Write the subset file.

    Args:
        argv: Command-line arguments without the program name.

    Returns:
        The process exit status.
    """
    parser = argparse.ArgumentParser(
        description="Extract the message schemas from Discord's spec."
    )
    parser.add_argument(
        "spec",
        nargs="?",
        type=Path,
        default=DEFAULT_SPEC,
        help="Discord openapi.json (default: %(default)s)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="where to write the subset (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    text = extract(args.spec)
    args.output.write_text(text, encoding="utf-8")
    count = len(json.loads(text)["components"]["schemas"])
    print(f"wrote {count} schemas, {len(text)} bytes to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
