"""The one compiled part of mtrl_lib: the training loop's Gaussian draw (``mtrl_lib/_normal.c``).

Everything else is in pyproject.toml. ``-ffp-contract=off`` is part of the algorithm, not a tuning flag: without
it the compiler may fuse a multiply and an add, and the values would then depend on the CPU (see the comment at
the top of ``_normal.c``; ``tests/test_normal.py`` checks the build against a NumPy restatement, bit for bit).
``-fno-math-errno`` only lets ``sqrt`` skip setting ``errno`` (its arguments are never negative), which is what
lets the compiler vectorise the loop. The module carries the sha256 of the source it was built from, so that
``mtrl_lib.tasks`` can refuse a stale build."""
import hashlib
from pathlib import Path

from setuptools import Extension, setup

SOURCE = "mtrl_lib/_normal.c"
digest = hashlib.sha256((Path(__file__).parent / SOURCE).read_bytes()).hexdigest()

setup(ext_modules=[Extension("mtrl_lib._normal", [SOURCE],
                             define_macros=[("MTRL_NORMAL_SOURCE_SHA256", f'"{digest}"')],
                             extra_compile_args=["-O3", "-ffp-contract=off", "-fno-math-errno", "-std=c11"])])
