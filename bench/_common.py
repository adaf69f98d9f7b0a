"""What every benchmark prints beside its ratios: the machine's load, since the 2 cores are shared
and a ratio measured under load 6 is not the one measured idle."""

from __future__ import annotations

import os
import resource
from datetime import UTC, datetime


def load_average() -> str:
    """The 1, 5 and 15 minute load averages and the core count, e.g. "load 1.20 0.80 0.40 on 2 cores"."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def stamp() -> str:
    """The header line of a recorded run: when, and under what load."""
    return f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {load_average()}"


def peak_rss_mb() -> float:
    """Peak resident memory of this process (or its largest child), in MB."""
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def ratio_line(label: str, ratio: float, *, unit: str = "x") -> str:
    """A ratio with the load it was measured under."""
    return f"{label}: {ratio:.2f}{unit}   [{load_average()}]"
