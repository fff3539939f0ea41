# SPDX-License-Identifier: BSD-3-Clause
"""Progress of an enrichment: one overall bar (all fields and stages, with its ETA) and a bar per stage.

A run submits its tasks stage by stage (one stage per field for the plain modes, the A, B and C
stages of ``halo="split"``); each stage waits on its futures through :meth:`RunProgress.stage`,
which advances that stage's bar and the overall one.  The overall bar counts tasks done out of
all the run's tasks, including those a resumed run found done, so its ETA covers the whole run.
"""
from __future__ import annotations

import sys

from ember_dist.futures import as_completed_on_own_loop

__all__ = ["RunProgress"]


class RunProgress:
    """Bars on stderr for a run of ``total`` tasks of which ``done`` are already done.

    Parameters
    ----------
    total, done : int
        Tasks of the whole run, and those finished before this call (resume).
    enabled : bool
        False: no output at all (futures are still waited on in completion order).
    desc : str
        Label of the overall bar.
    stages : int
        Stages the run has; with one, the stage bar is the overall bar (no second line).
    """

    def __init__(self, total, done=0, enabled=True, desc="enrich", stages=1):
        self.enabled, self.multi = bool(enabled), stages > 1
        self.overall = None
        if self.enabled:
            from tqdm.auto import tqdm

            self._tqdm = tqdm
            self.overall = tqdm(total=total, initial=done, desc=f"{desc} (all stages)" if self.multi else desc,
                                unit="task", file=sys.stderr, smoothing=0.05, position=0)

    def stage(self, futures, enabled, desc):
        """Iterate ``futures`` as they complete, advancing the stage bar and the overall bar.

        Has the signature of the engine's ``progress_fn(futures, enabled, desc)``.
        """
        bar = None
        if self.enabled and enabled and self.multi and futures:
            bar = self._tqdm(total=len(futures), desc=desc, unit="task", file=sys.stderr, smoothing=0.05,
                             position=1, leave=False)
        try:
            for fut in as_completed_on_own_loop(futures):
                yield fut
                if bar is not None:
                    bar.update()
                if self.overall is not None:
                    self.overall.update()
        finally:
            if bar is not None:
                bar.close()

    def close(self):
        if self.overall is not None:
            self.overall.close()
