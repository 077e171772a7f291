"""What can go wrong with a Dask scheduler, in one module that imports nothing of the book's.

:mod:`mtrl_lib.book.executors` (which runs units on a scheduler) and :mod:`mtrl_lib.book.local_cluster` (which
starts one for ``--scheduler local:N``) both raise these; keeping them here means neither of the two imports the
other's module to name an error (the two used to import each other).

:func:`connection_lost` says whether an exception raised while talking to the scheduler means the connection
dropped. The ways a dropped connection surfaces through ``distributed`` (2026.8, read in its ``client.py``,
``comm/core.py``, ``comm/tcp.py`` and ``core.py``):

* ``distributed.comm.core.CommClosedError`` (an ``OSError``): a read or write on a closed comm, e.g.
  ``Future.result()`` gathering a finished unit through ``ConnectionPool.gather`` after the scheduler died
  ("Stream is closed"); ``FatalCommClosedError`` is a subclass;
* ``tornado.iostream.StreamClosedError`` (an ``OSError``), which ``comm/tcp.py`` converts to the above, but which
  can escape from a write that was already in flight;
* ``distributed.core.RPCClosed`` (an ``OSError``) and a plain ``OSError`` (connection refused or reset) from
  reconnecting;
* ``TimeoutError`` (``asyncio.TimeoutError`` and ``distributed.TimeoutError`` are the built-in one, an ``OSError``
  too) from a connection or a call that never answers;
* ``distributed.client.FutureCancelledError`` / ``FuturesCancelledError`` (subclasses of
  ``concurrent.futures.CancelledError``): the client cancels every future as it starts reconnecting
  (``Client._reconnect``, reason ``scheduler-connection-lost``) and when it closes;
* ``asyncio.CancelledError`` from a coroutine cancelled as the client's loop shuts down.

A unit's own exception (the future's status is ``"error"``) is never one of these: the executor re-raises it
as it is.
"""
from __future__ import annotations

import asyncio
import concurrent.futures


class SchedulerError(ValueError):
    """The scheduler cannot be used (one line; the command line exits 2)."""


class SchedulerLost(RuntimeError):
    """The scheduler went away while units ran (the chapter fails in one line; the store keeps what finished)."""


#: every exception type through which a dropped connection to the scheduler surfaces (see the module's docstring)
CONNECTION_LOST = (OSError, concurrent.futures.CancelledError, asyncio.CancelledError)


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` (raised by a call to the scheduler, not by a unit) means the connection dropped."""
    return isinstance(exc, CONNECTION_LOST)


def lost_message(address: str) -> str:
    """The one line of :class:`SchedulerLost`."""
    return (f"the Dask scheduler at {address} went away mid-chapter; the finished units are in the store, and "
            f"rerunning the command resumes from them")
