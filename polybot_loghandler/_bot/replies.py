"""
The bot's own embeds: help, refusals, and a control command's progress.

Pure. A value someone typed (an agent's name, a command) or an agent
wrote (an acknowledgement's error) is shown through
:func:`~polybot_loghandler._text.safe_markdown`, as an event's values
are: it never pings, never turns into markdown, never shows a token.
The replies to the questions of ``commands:`` are not made here but by
:func:`polybot_loghandler._floor.replies.reply_embed`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from polybot_loghandler._config.commands import HELP_HELP
from polybot_loghandler._limits import MAX_DESCRIPTION, MAX_TITLE, clamp
from polybot_loghandler._model import Config
from polybot_loghandler._text import safe_markdown

from .asking import Request

__all__ = [
    "BLUE",
    "CONTROL_HELP",
    "GREEN",
    "ORANGE",
    "RED",
    "acks_embed",
    "cancelled_embed",
    "confirm_embed",
    "help_embed",
    "refused_embed",
    "sent_embed",
    "unanswered_embed",
]

GREEN = 0x2ECC71
BLUE = 0x3498DB
ORANGE = 0xE67E22
RED = 0xE74C3C

#: Each control command: how it is typed, and what it does, as ``/help``,
#: ``check`` and Discord's command picker say it.
CONTROL_HELP = {
    "pause": ("/pause agent:NAME", "Tell an agent to stop opening positions"),
    "resume": ("/resume agent:NAME", "Tell a paused agent to trade again"),
    "switch": (
        "/switch mode:paper|live",
        "Tell every agent to trade on paper, or live",
    ),
}


def help_embed(config: Config) -> dict[str, Any]:
    """``/help``: each question, then the control commands and who may."""
    lines = [f"`/{c.name}` · {safe_markdown(c.help)}" for c in config.commands]
    lines.append(f"`/help` · {HELP_HELP}")
    roles = config.bot.control_roles
    who = (
        "members with the role " + " or ".join(safe_markdown(r) for r in roles)
        if roles
        else "nobody yet (bot.control_roles names no role)"
    )
    lines.append("")
    lines.append(f"**Control** (for {who}):")
    lines.extend(f"`{use}` · {text}" for use, text in CONTROL_HELP.values())
    return _embed("📖 Commands", "\n".join(lines), BLUE)


def unanswered_embed(why: str) -> dict[str, Any]:
    """A question with no answer yet, and why (Redis, or no state)."""
    return _embed("❔ No answer yet", safe_markdown(why), BLUE)


def refused_embed(request: Request, reason: str) -> dict[str, Any]:
    """A refusal: what was asked, and why not."""
    return _embed(f"⛔ {_asked(request)}", safe_markdown(reason), RED)


def confirm_embed(request: Request, within: float) -> dict[str, Any]:
    """The question ``/switch mode:live`` asks before anything is sent."""
    return _embed(
        "⚠️ Switch every agent to live trading?",
        "Live trading spends real money. Only "
        f"{safe_markdown(request.asker.name)} can confirm, within "
        f"{_seconds(within)}.",
        ORANGE,
    )


def cancelled_embed(request: Request, why: str) -> dict[str, Any]:
    """A confirmation that was declined or not given in time."""
    return _embed(f"✖️ {_asked(request)}: not sent", safe_markdown(why), ORANGE)


def sent_embed(
    request: Request, command_id: str, within: float
) -> dict[str, Any]:
    """A control command on the stream, its acknowledgement awaited."""
    agent = request.options.get("agent")
    who = safe_markdown(agent) if agent else "every agent"
    return _embed(
        f"📨 {_asked(request)}: sent",
        f"Waiting up to {_seconds(within)} for {who} to acknowledge "
        f"command `{command_id}`.",
        BLUE,
    )


def acks_embed(
    request: Request,
    command_id: str,
    done: Sequence[str],
    failed: Mapping[str, str],
    missing: Sequence[str],
) -> dict[str, Any]:
    """
    What came back: who obeyed, who could not and why, who said nothing.

    *missing* names the agents that were expected and did not answer;
    with no answer at all and none named, nobody acknowledged.
    """
    lines = [f"✅ {safe_markdown(agent)}" for agent in done]
    lines += [
        f"❌ {safe_markdown(agent)}: {safe_markdown(error or 'failed')}"
        for agent, error in failed.items()
    ]
    lines += [f"🔇 {safe_markdown(agent)}: no answer" for agent in missing]
    if failed or missing or not done:
        title = f"⚠️ {_asked(request)}: " + (
            "not acknowledged" if not (done or failed) else "not obeyed by all"
        )
        color = RED if failed else ORANGE
    else:
        title = _obeyed(request)
        color = GREEN
    if not lines:
        lines.append("No agent acknowledged it.")
    # the id first: a floor of many agents is cut to the limit at the end
    lines.insert(0, f"Command `{command_id}`")
    return _embed(title, "\n".join(lines), color)


def _embed(title: str, description: str, color: int) -> dict[str, Any]:
    """An embed within Discord's limits, whatever went into it."""
    return {
        "title": clamp(title, MAX_TITLE),
        "description": clamp(description, MAX_DESCRIPTION),
        "color": color,
    }


def _obeyed(request: Request) -> str:
    """What the floor did, once every agent asked has said it did."""
    agent = safe_markdown(request.options.get("agent", ""))
    if request.name == "pause":
        return f"⏸️ Paused agent: {agent}"
    if request.name == "resume":
        return f"▶️ Resumed agent: {agent}"
    mode = request.options.get("mode", "")
    return f"{'🔴' if mode == 'live' else '📄'} Switched to {mode} trading"


def _asked(request: Request) -> str:
    return safe_markdown(request.text)


def _seconds(seconds: float) -> str:
    whole = round(seconds)
    if whole % 60 == 0 and whole >= 60:
        minutes = whole // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{whole} second{'s' if whole != 1 else ''}"
