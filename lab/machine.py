"""One line saying which machine a number was measured on, for benchmark sections and model cards."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path


def machine_description() -> str:
    """Cores, CPU model, memory and Python version (and the GPU, when torch is in use and sees one)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    line = f"{os.cpu_count()} cores, {cpu}, {mem:.0f} GiB RAM, Python {platform.python_version()}"
    torch = sys.modules.get("torch")  # never imported just to ask: that alone takes seconds
    if torch is not None and torch.cuda.is_available():
        line += f", GPU {torch.cuda.get_device_name(0)} (torch {torch.__version__})"
    return line


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (Linux reports it in KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
