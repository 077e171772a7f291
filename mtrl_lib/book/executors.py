"""Executors for an experiment's units (:mod:`mtrl_lib.units`): in-process or Dask, behind the results store.

* **in-process** (the default, and what ``make book`` uses): units run one after another in the kernel.
* **Dask distributed**: ``--scheduler tcp://HOST:PORT`` (or ``DASK_SCHEDULER_ADDRESS`` in the environment,
  Dask's own convention) sends units to an existing cluster; ``--scheduler local:N`` starts a LocalCluster
  of N single-threaded worker processes for the duration of the command. A worker that dies mid-unit is
  replaced and its units are recomputed by Dask (``retries`` covers a unit that fails on a dying worker).
* **the store** (:mod:`mtrl_lib.book.store`) sits in front of either: a unit already stored is loaded, the
  others are computed and each is stored as soon as it arrives, so an interrupted run loses at most the
  units in flight.

The command line checks the scheduler and the store before any computation (:func:`check_scheduler`,
:meth:`Store.check_writable`) and hands the kernel its choices through the environment
(``MTRL_SCHEDULER``, ``MTRL_STORE``, ``MTRL_UNITS_LOG``); :func:`from_environment` turns them back into an
executor inside the notebook. The command line also passes its science digest (``MTRL_SCIENCE_DIGEST``): a
kernel that imports another checkout's ``mtrl_lib`` (an editable install of a second work tree) would key the
store under that checkout's source, so :func:`from_environment` refuses to run there. With nothing set (a
reader's own Jupyter session) units run in-process with no store. Seeds belong to units, so the executor never changes a result: the same parameters give the same
bytes however many workers there are.
"""
from __future__ import annotations

import asyncio
import atexit
import json
import os
import re
from pathlib import Path

from ..progress import progress_bar
from ..units import InProcess, Unit, call
from .scheduler_errors import SchedulerError, SchedulerLost, connection_lost, lost_message
from .store import Store, normalise, science_digest, unit_key

ENV_SCHEDULER, ENV_STORE, ENV_LOG = "MTRL_SCHEDULER", "MTRL_STORE", "MTRL_UNITS_LOG"
ENV_STORE_READ = "MTRL_STORE_READ"      # stores read after MTRL_STORE, never written (os.pathsep-separated)
ENV_DIGEST = "MTRL_SCIENCE_DIGEST"
# "1": every unit must come from the store, and a chapter that needs one the store lacks stops before computing
# anything (MissingUnits, counting them); make site builds the paper book so (mtrl_lib/book/site.py)
ENV_STORE_ONLY = "MTRL_STORE_ONLY"
CONNECT_TIMEOUT_S = 5


__all__ = ["SchedulerError", "SchedulerLost", "MissingUnits", "Dask", "Stored", "check_scheduler", "from_environment",
           "parse_scheduler", "start_local_cluster"]


class MissingUnits(RuntimeError):
    """The store lacks units that this run may not compute (``MTRL_STORE_ONLY``); the message counts them."""


def _identity() -> tuple[str, str]:
    """Run on each worker: the mtrl_lib version and science digest it would compute with."""
    from .. import __version__
    from .store import science_digest as digest

    return __version__, digest()


def _toolchain() -> dict:
    """Run on each worker: the toolchain it computes with (:func:`mtrl_lib.book.store.toolchain`)."""
    from .store import toolchain

    return toolchain()


def _import_science() -> bool:
    """Run on each worker before timing it: import torch and the science modules (seconds, once)."""
    import importlib

    for name in ("mtrl_lib.train", "mtrl_lib.probe", "mtrl_lib.units"):
        importlib.import_module(name)
    return True


def parse_scheduler(text: str) -> tuple[str, object]:
    """``("local", N)`` for ``local:N``, else ``("address", "tcp://HOST:PORT")``; ValueError when malformed."""
    m = re.fullmatch(r"local:(\d+)", text.strip())
    if m:
        n = int(m.group(1))
        if not 1 <= n <= 256:
            raise SchedulerError(f"--scheduler local:N needs N in [1, 256], got {text!r}")
        return "local", n
    from distributed.comm.addressing import parse_address, parse_host_port

    addr = text.strip() if "://" in text else f"tcp://{text.strip()}"
    try:
        scheme, loc = parse_address(addr)
        host, port = parse_host_port(loc)
        if scheme not in ("tcp", "tls", "inproc", "ws", "wss") or not host or not port:
            raise ValueError(addr)
    except Exception:
        raise SchedulerError(f"--scheduler must be local:N or a Dask scheduler address such as "
                             f"tcp://127.0.0.1:8786, got {text!r}") from None
    return "address", addr


def start_local_cluster(n: int):
    """A LocalCluster of ``n`` single-threaded worker processes (no dashboard), in a process of its own session
    (:mod:`mtrl_lib.book.local_cluster`): ``scheduler_address`` and ``close()``."""
    from .local_cluster import LocalClusterProcess

    return LocalClusterProcess(n)


def check_scheduler(address: str, timeout: float = CONNECT_TIMEOUT_S) -> int:
    """Connect, wait for a worker, and check that every worker imports this mtrl_lib with the same science
    source. Returns the number of workers; raises :class:`SchedulerError` (one line) otherwise."""
    from distributed import Client

    try:
        client = Client(address, timeout=f"{timeout}s", set_as_default=False)
    except Exception as e:
        raise SchedulerError(f"--scheduler {address}: cannot reach a Dask scheduler there ({type(e).__name__})") from None
    try:
        try:
            client.wait_for_workers(1, timeout=timeout)
        except Exception:
            raise SchedulerError(f"--scheduler {address}: the scheduler has no workers") from None
        try:
            ids = client.run(_identity)
        except Exception as e:
            raise SchedulerError(f"--scheduler {address}: the workers cannot import the project's packages "
                                 f"({type(e).__name__}: {e}); install mtrl_lib and its requirements there") from None
        from .. import __version__

        mine = (__version__, science_digest())
        bad = [w for w, v in ids.items() if tuple(v) != mine]
        if bad:
            raise SchedulerError(f"--scheduler {address}: {len(bad)} worker(s) run another version of mtrl_lib "
                                 f"(version or source differ from this checkout)")
        return len(ids)
    finally:
        client.close()


class Dask:
    """Units on a Dask cluster; results come back in the units' order."""

    def __init__(self, address: str):
        from distributed import Client

        self.address = address
        self.client = Client(address, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
        atexit.register(self.client.close)

    @property
    def name(self) -> str:
        return f"dask {self.address}"

    def warm(self) -> None:
        """Import the science modules on every worker (so that timing excludes it)."""
        self.client.run(_import_science)

    def workers(self) -> int:
        """Workers of the cluster now (asked of the scheduler: a dropped connection is :class:`SchedulerLost`)."""
        try:
            return len(self.client.scheduler_info().get("workers", {}))
        except (Exception, asyncio.CancelledError) as e:
            if connection_lost(e) or not self._running():
                raise self._lost() from None
            raise

    def _lost(self) -> SchedulerLost:
        return SchedulerLost(lost_message(self.address))

    def _running(self) -> bool:
        return self.client.status == "running"

    def toolchain(self) -> dict:
        """The workers' toolchain (recorded with every entry they compute); where workers differ, each
        field that differs lists the values seen."""
        seen = list(self.client.run(_toolchain).values())
        out = dict(seen[0]) if seen else {}
        for k in out:
            values = sorted({str(t.get(k)) for t in seen})
            if len(values) > 1:
                out[k] = "mixed: " + ", ".join(values)
        return out

    def iter_results(self, units: list[Unit]):
        """Yield ``(index, result)`` as units finish (in any order).

        Every way the connection to the scheduler can drop (:func:`~mtrl_lib.book.scheduler_errors.connection_lost`:
        a closed comm or stream, an OSError or timeout of the connection, futures cancelled by the client as it
        reconnects or closes), or a client no longer ``running``, raises :class:`SchedulerLost` (one line: a rerun
        resumes from the store), whether it shows in submitting the units, in waiting for them, or in gathering
        a finished unit's result (``fut.result()`` can raise ``CommClosedError`` before the client's status
        changes). A unit's own exception (its future's status is ``"error"``) is re-raised as it is."""
        from distributed import as_completed

        keys = [f"mtrl-unit-{unit_key(u)}" for u in units]
        try:
            futures = self.client.map(call, units, key=keys, retries=3, pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            finished = as_completed(futures, loop=self.client.loop)
        except (Exception, asyncio.CancelledError) as e:
            if connection_lost(e) or not self._running():
                raise self._lost() from None
            raise
        while True:
            try:
                fut = next(finished)
            except StopIteration:
                return
            except (Exception, asyncio.CancelledError) as e:
                if connection_lost(e) or not self._running():
                    raise self._lost() from None
                raise
            if fut.cancelled() or not self._running():
                raise self._lost()
            try:
                result = fut.result()
            except (Exception, asyncio.CancelledError) as e:
                if fut.status == "error":
                    raise                                   # the unit's own exception (or KilledWorker)
                if connection_lost(e) or not self._running():
                    raise self._lost() from None
                raise
            yield index[fut.key], result

    def map(self, units, desc=None) -> list[dict]:
        out = [None] * len(units)
        for i, res in progress_bar(self.iter_results(list(units)), desc=desc, total=len(units)):
            out[i] = res
        return out


class _Local:
    """In-process, yielding results as they finish (for the store)."""

    name = "in-process"

    def iter_results(self, units):
        for i, u in enumerate(units):
            yield i, call(u)


class Stored:
    """The store in front of an executor: load stored units, compute the rest, store each as it arrives.
    Counts ``units_total`` and ``units_from_store`` and writes them to ``log`` (a JSON file) after each map,
    with a warning line for each damaged entry it found and recomputed (the command line prints them; with no
    log they go to stderr)."""

    def __init__(self, inner, store: Store | None, log: Path | None = None, compute: bool = True):
        self.inner, self.store, self.log, self.compute = inner, store, log, compute
        self.units_total = self.units_from_store = 0
        self.warnings: list[str] = []
        self.keys: set[str] = set()      # every key this run asked for, loaded or computed (for make publish)
        self._tools = None

    def _toolchain(self) -> dict:
        """What computes the units (recorded in each entry): the Dask workers', or this process's."""
        if self._tools is None:
            from .store import toolchain

            self._tools = self.inner.toolchain() if isinstance(self.inner, Dask) else toolchain()
        return self._tools

    @property
    def name(self) -> str:
        return self.inner.name

    def map(self, units, desc=None) -> list[dict]:
        units = list(units)
        keys = [unit_key(u) for u in units]
        self.keys.update(keys)
        out = [None] * len(units)
        if self.store is not None:
            for i, (k, u) in enumerate(zip(keys, units)):
                out[i], problem = self.store.load(k, u)
                if problem:
                    self._warn(f"warning: store entry {self.store.path(k)} {problem}; recomputing it "
                               f"({u.fn.rpartition(':')[2]} seed={u.seed})")
        todo = [i for i, r in enumerate(out) if r is None]
        if todo and not self.compute:
            raise MissingUnits(f"{len(todo)} of the {len(units)} units of this step are not in the store "
                               f"{self.store.root if self.store is not None else '(none)'}, and this run computes none")
        self.units_total += len(units)
        self.units_from_store += len(units) - len(todo)
        sub = [units[i] for i in todo]
        bar = progress_bar(self.inner.iter_results(sub), desc=desc, total=len(sub))
        for j, res in bar:
            i = todo[j]
            if self.store is not None:
                self.store.put(keys[i], units[i], res, self._toolchain())
            out[i] = normalise(res)
        self._write_log()
        return out

    def _warn(self, line: str) -> None:
        self.warnings.append(line)
        if self.log is None:
            import sys

            print(line, file=sys.stderr)

    def _write_log(self):
        if self.log is None:
            return
        rec = {"units_total": self.units_total, "units_from_store": self.units_from_store, "keys": sorted(self.keys),
               "executor": self.name, "warnings": self.warnings}
        if isinstance(self.inner, Dask):
            rec["workers"] = self.inner.workers()
        self.log.write_text(json.dumps(rec, sort_keys=True) + "\n")


def from_environment():
    """The executor the runner asked for: Dask when ``MTRL_SCHEDULER`` or ``DASK_SCHEDULER_ADDRESS`` names a
    scheduler, else in-process; behind the store at ``MTRL_STORE`` when set. Nothing set: plain in-process.
    Raises RuntimeError when ``MTRL_SCIENCE_DIGEST`` is set and this kernel's science source differs from it."""
    expected = os.environ.get(ENV_DIGEST)
    if expected and expected != science_digest():
        from .chapters import ROOT

        raise RuntimeError(f"this kernel imports mtrl_lib from {ROOT}, whose science source differs from the "
                           f"checkout that started the run; install that checkout here (`make install` in it)")
    address = os.environ.get(ENV_SCHEDULER) or os.environ.get("DASK_SCHEDULER_ADDRESS")
    store = os.environ.get(ENV_STORE)
    log = os.environ.get(ENV_LOG)
    if not (address or store or log):
        return InProcess()
    inner = Dask(address) if address else _Local()
    read_also = [r for r in os.environ.get(ENV_STORE_READ, "").split(os.pathsep) if r]
    return Stored(inner, Store(store, read_also) if store else None, Path(log) if log else None,
                  compute=os.environ.get(ENV_STORE_ONLY) != "1")
