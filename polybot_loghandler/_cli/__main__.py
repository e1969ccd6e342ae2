"""
``python -m polybot_loghandler._cli``: the ``polybot-loghandler`` command.
"""

from .command import main

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
