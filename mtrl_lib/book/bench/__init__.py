"""``python -m mtrl_lib bench``: how close the training round runs to the hardware, and how fast the book rebuilds.

Seven figures, each measured in one run on one machine (only ratios within a run are compared, so a shared or
loaded machine shifts them less than it shifts absolute times):

``loop_ratio``       time of a per-task Python loop (one ``nn.Module`` forward, autograd backward and optimizer
                     step per task, as public multi-task code writes it; :class:`LoopTrainer`) over our batched
                     round (:class:`mtrl_lib.train.Round`), same algorithm, same data distribution;
``ceiling_fraction`` time of the round's matrix products alone (plain ``torch.matmul``, the ceiling of any
                     implementation) over the time of the batched round, at the same shape: the median over
                     bursts spread over two minutes of each burst's median ratio, with a distribution-free
                     95 % interval over the bursts;
``matmul_fraction``  achieved FLOP rate of a full round (counting the FLOPs of its matrix products) over the
                     rate of plain ``torch.matmul`` calls of the same shapes, same device and dtype;
``peak_rss_gb``      peak resident memory of a child process training one round on a configuration with
                     T n d = 1e9 sample elements (4 GB at once in float32) under its ``memory_budget_gb``;
``rebuild_ratio``    time of ``book`` after a prose-only change to one chapter over a cold ``book``;
``jobs_ratio``       cold ``book --jobs 2`` over cold ``book --jobs 1``;
``units_ratio``      units per second of one small sweep of training units run by ``--scheduler local:2`` (a
                     LocalCluster of two single-threaded worker processes) over the same sweep in-process
                     (both measured in this run; ``units_per_s`` of each is in the details).

The book figures are measured in a temporary copy of the working tree (never in this tree's ``book/`` or
``_build/``). ``--quick`` is the small version for the test suite: smaller shapes, and the book figures on a
copy whose chapters are replaced by stubs (title and parameters only), so they measure the book machinery
(kernel start-up, cache, Jupyter Book) rather than the chapters' computation.

Results go to ``published/bench.json`` (committed with the project: the published figures, with the machine,
date, commit and science-source digest they were measured on) and to ``book/_generated/performance.md``,
which the book's Performance page includes. Every book build renders that page from the published JSON
(:func:`ensure_page`) and says when the library source has changed since the figures were measured; a
placeholder stands there only when nothing was ever published.

The package, one job a module:

``figures``       the seven figures and their targets;
``timing``        timing statistics (interleaved and rotated repetitions, the median and its interval, the
                  round's profile);
``machine``       what the figures were measured on;
``loop_trainer``  the per-task reference trainer (:class:`LoopTrainer`);
``rounds``        the round and matmul benches (``loop_ratio``, ``ceiling_fraction``, ``matmul_fraction``);
``memory``        ``peak_rss_gb`` in a child process;
``book_build``    the book bench (``rebuild_ratio``, ``jobs_ratio``) in a temporary copy of the tree;
``units_rate``    the units bench (``units_ratio``);
``page``          the Performance page and its table;
``suite``         one run of all of them (:func:`run`, the sizes of ``--quick`` and of the full run).

The names below are re-exported, so ``mtrl_lib.book.bench.run`` (the command line), ``ensure_page`` (every book
build) and the tests' names read as before.
"""
from __future__ import annotations

from ..chapters import ROOT
from .book_build import bench_book, copy_tree, edit_prose, run_book, stub_chapters
from .figures import CEILING_TARGET, FIGURES, TARGETS
from .loop_trainer import LoopTrainer
from .machine import machine
from .memory import bench_rss, child_peak_rss
from .page import GENERATED, JSON, PAGE, PLACEHOLDER, _fraction_sentence, ensure_page, render_page, table, verdict
from .rounds import bench_loop, bench_matmul, matmul_flops, round_matmuls
from .suite import SIZES, run
from .timing import LEVEL, median_ci, profile_round
from .units_rate import bench_units

__all__ = ["ROOT", "bench_book", "copy_tree", "edit_prose", "run_book", "stub_chapters", "CEILING_TARGET", "FIGURES",
           "TARGETS", "LoopTrainer", "machine", "bench_rss", "child_peak_rss", "GENERATED", "JSON", "PAGE",
           "PLACEHOLDER", "_fraction_sentence", "ensure_page", "render_page", "table", "verdict", "bench_loop",
           "bench_matmul", "matmul_flops", "round_matmuls", "SIZES", "run", "LEVEL", "median_ci", "profile_round",
           "bench_units"]
