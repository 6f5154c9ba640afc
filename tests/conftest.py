"""Suite-wide: the random test order is reproducible from the seed printed at the end of every run."""
from __future__ import annotations


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    seed = getattr(config.option, "randomly_seed", None)
    if getattr(config.option, "randomly_reorganize", False) and isinstance(seed, int):
        terminalreporter.write_line(f"tests ran in random order (pytest-randomly); repeat this order with "
                                    f"--randomly-seed={seed}")
