"""Contract coverage: which published samples the tests/contract suite exercised, and which passed.

A contract test names its samples with the `wire_sample` fixture (tests/contract/conftest.py), which
records them in the test report's user_properties; those travel from xdist workers to the
controller, where this plugin tallies them and prints one line per sample and a coverage line:
`contract coverage: N/M samples passing (M used)`. A sample passes when every test naming it passed.
"""

from __future__ import annotations

from typing import Any

import pytest

_RESULTS: dict[str, list[str]] = {}
_KEY = "contract_sample"


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    names = [value for key, value in getattr(report, "user_properties", []) if key == _KEY]
    if not names:
        return
    if report.when == "call" or report.outcome != "passed":
        for name in dict.fromkeys(names):
            _RESULTS.setdefault(str(name), []).append("skipped" if report.skipped else report.outcome)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _RESULTS:
        return
    passing = sorted(n for n, outcomes in _RESULTS.items() if all(o == "passed" for o in outcomes))
    terminalreporter.write_sep("-", "contract samples")
    for name in sorted(_RESULTS):
        outcomes = _RESULTS[name]
        verdict = "pass" if name in passing else "FAIL"
        terminalreporter.write_line(f"{verdict:4}  {name}  ({len(outcomes)} checks)")
    terminalreporter.write_line(f"contract coverage: {len(passing)}/{len(_RESULTS)} samples passing "
                                f"({len(_RESULTS)} used)")
