"""For commands that keep servers running in the foreground until the user stops them."""

from __future__ import annotations

import time


def wait_for_ctrl_c() -> None:
    """Block until Ctrl+C (KeyboardInterrupt), then return so the caller can stop its servers."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
