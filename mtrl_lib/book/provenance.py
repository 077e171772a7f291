"""What produced a chapter's numbers: parameters, seeds, profile, time, code version, software, device."""
from __future__ import annotations

import platform
import subprocess
import sys

from .chapters import ROOT


def git_commit() -> str:
    """The commit of the working tree (with ``+dirty`` when it has uncommitted changes), or ``unknown``."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "mtrl_lib", "notebooks"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def software() -> dict:
    import matplotlib
    import numpy
    import torch

    from .. import __version__

    return {"mtrl_lib": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": numpy.__version__, "matplotlib": matplotlib.__version__, "platform": platform.platform()}


def device_description(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{device}: {torch.cuda.get_device_name(torch.device(device))}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def record(chapter: str, profile: str, params: dict, wall_s: float, commit: str | None = None) -> dict:
    """The provenance of one execution. ``commit``: :func:`git_commit` taken when the execution started (the
    kernel imports the library then; a commit made during a long run must not be credited with its numbers);
    taken now when not given."""
    return {
        "chapter": chapter, "profile": profile, "parameters": params,
        "seeds": {k: v for k, v in params.items() if "seed" in k},
        "wall_time_s": round(wall_s, 2), "git_commit": commit or git_commit(),
        "device": device_description(str(params.get("device", "cpu"))),
        "software": software(), "python_executable": sys.executable.split("/")[-1],
    }
