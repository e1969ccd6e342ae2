"""
The type of the ``connect`` fixture of the integration tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from polybot_loghandler import DiscordHandler

#: Routing YAML in, a handler and a logger wearing it out.
Connect = Callable[[str], tuple[DiscordHandler, logging.Logger]]
