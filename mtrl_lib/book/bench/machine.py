"""The machine the bench's figures were measured on (CPU, cores, torch and its threads, load average)."""
from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path


def machine(device: str = "cpu") -> dict:
    """What the figures were measured on."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        usable = os.cpu_count()
    info = {
        "cpu": cpu, "cores": os.cpu_count(), "usable_cores": usable, "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
        "platform": platform.platform(), "device": device,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(default)"),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if device.startswith("cuda"):
        info["device"] = f"{device}: {torch.cuda.get_device_name(torch.device(device))}"
    try:
        info["load_average_start"] = round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover
        pass
    return info
