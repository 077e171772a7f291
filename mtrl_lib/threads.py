"""Small dense linear algebra on one CPU thread: faster on a shared machine, and the same bits everywhere.

A multi-threaded reduction or LAPACK call splits its work by the thread count, so its last bits depend on
how many threads the process has; a unit run in-process (2 threads) and on a Dask worker (1 thread) would
then differ in the 16th digit. Metrics, probes and other small factorisations run inside :func:`one_thread`,
which makes their results independent of the process they run in (``tests/test_units.py`` checks it).
"""
from __future__ import annotations

from contextlib import contextmanager

import torch


@contextmanager
def one_thread():
    """Run the enclosed small dense factorisations (eigh, Cholesky, SVD) on one CPU thread.

    On the pinned CPU build, LAPACK calls on 2 threads are erratic on a busy machine: a batch of ten
    201 x 201 ``eigh`` took 20 s on 2 threads against 0.07 s on one (measured while other jobs shared the
    cores), and batched LU solves hung. Matrices this small gain nothing from a second thread anyway.
    The thread count is restored on exit (it only concerns CPU work)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)
