"""The LocalCluster of ``--scheduler local:N``, in a process of its own session.

Ctrl-C in a terminal sends SIGINT to the whole foreground process group. Worker processes started in that
group (as a LocalCluster started in the command's own process starts them) each raise KeyboardInterrupt and
print a traceback, and one still importing its modules prints it from ``spawn_main``, beside the command's
one line. Here the cluster (its scheduler, nannies and workers) runs under a helper process started in a
new session, which the terminal's SIGINT never reaches: the command's Ctrl-C handler ends it, and everything
under it, itself (:func:`mtrl_lib.book.cli._on_interrupt`).

``python -m mtrl_lib.book.local_cluster N`` starts the cluster, prints its scheduler address on one line and
runs until its stdin closes (the parent closes it, or dies).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import warnings

from .scheduler_errors import SchedulerError

START_TIMEOUT_S = 120


class LocalClusterProcess:
    """A LocalCluster of ``n`` single-threaded worker processes under a helper process in its own session;
    ``scheduler_address`` and ``close()``, as a LocalCluster has."""

    def __init__(self, n: int):
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")      # inherited by the worker processes
        self._log = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([sys.executable, "-m", __name__, str(n)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._log, text=True, start_new_session=True)
        line = self.proc.stdout.readline().strip()
        if not line:
            self.close()
            self._log.seek(0)
            tail = " ".join(self._log.read().strip().splitlines()[-1:])
            raise SchedulerError(f"--scheduler local:{n}: the local Dask cluster did not start ({tail})")
        self.scheduler_address = line

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()                  # the helper closes its cluster and exits
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def _serve(n: int) -> None:
    import dask
    from distributed import LocalCluster

    signal.signal(signal.SIGINT, signal.SIG_IGN)      # inherited by the workers: ours to end, not the terminal's
    with dask.config.set({"distributed.worker.daemon": False, "logging.distributed": "error"}), \
            warnings.catch_warnings():
        # another cluster on this machine holds the default HTTP port; ours moves to a free one, which is fine
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=50)
    print(cluster.scheduler_address, flush=True)
    sys.stdin.read()                                  # until the parent closes our stdin, or dies
    cluster.close()


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
