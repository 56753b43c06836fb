"""The archives of QO-ES and QDO-ES: which solutions survive as elites.

QO-ES keeps the best solutions found (:class:`_QualityArchive`); QDO-ES keeps the
best solution per cell of a grid over the behaviour descriptors whose bin edges
slide to the quantiles of every descriptor seen (:class:`_SlidingGridArchive`,
Fontaine, Lee, Soros, de Mesentier Silva, Togelius & Hoover 2019, "Mapping
Hearthstone deck spaces through MAP-Elites with sliding boundaries", GECCO).
Solutions are integer ids given by the search; the archives store ids, losses and
descriptors, never count vectors or predictions.
"""

from __future__ import annotations

import math

import numpy as np

__all__: list[str] = []


class _QualityArchive:
    """The ``capacity`` best solutions: fill empty slots, else replace the worst."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.sid = np.full(capacity, -1, dtype=np.int64)
        self.loss = np.full(capacity, np.inf)

    def insert_batch(self, first: int, losses: np.ndarray, desc: np.ndarray) -> None:
        """Offer solutions ``first, first + 1, ...`` in order (descriptors unused)."""
        for i, loss in enumerate(losses.tolist()):
            self._insert(first + i, loss)

    def _insert(self, sid: int, loss: float) -> None:
        empty = np.flatnonzero(self.sid < 0)
        if empty.size:
            slot = int(empty[0])
        else:
            # The worst elite; among equal losses the newest goes first.
            slot = int(np.lexsort((-self.sid, -self.loss))[0])
            if not loss < self.loss[slot]:
                return
        self.sid[slot], self.loss[slot] = sid, loss

    def elite_ids(self) -> np.ndarray:
        return np.sort(self.sid[self.sid >= 0])

    def losses_of(self, sids: np.ndarray) -> np.ndarray:
        pos = {int(s): i for i, s in enumerate(self.sid)}
        return np.array([self.loss[pos[int(s)]] for s in sids], dtype=np.float64)


class _SlidingGridArchive:
    """MAP-Elites grid whose bin edges follow the quantiles of all descriptors seen.

    Each cell keeps the solution with the lowest loss (local competition; ties keep
    the older). Every solution also goes to a buffer; after ``first_remap``
    insertions and then every ``remap_every``, each descriptor's edges move to the
    buffer's empirical quantiles and the grid is rebuilt from the whole buffer.
    """

    def __init__(
        self, bins: tuple[int, ...], *, first_remap: int, remap_every: int
    ) -> None:
        self.bins = bins
        self.edges = [np.linspace(0.0, 1.0, b + 1) for b in bins]
        n_cells = math.prod(bins)
        self.sid = np.full(n_cells, -1, dtype=np.int64)
        self.loss = np.full(n_cells, np.inf)
        self.desc = np.zeros((n_cells, len(bins)))
        # Buffer: every inserted solution's loss and descriptors (grows by doubling).
        self.buf_loss = np.empty(1024)
        self.buf_desc = np.empty((1024, len(bins)))
        self.n_buffered = 0
        self.next_remap = first_remap
        self.remap_every = remap_every
        self.n_remaps = 0

    @property
    def capacity(self) -> int:
        return self.sid.size

    def cells(self, desc: np.ndarray) -> np.ndarray:
        """Flat cell index of each descriptor row (n, d)."""
        index = np.zeros(desc.shape[0], dtype=np.int64)
        for d, (b, edges) in enumerate(zip(self.bins, self.edges, strict=True)):
            # Bin i holds [edges[i], edges[i+1]); outliers go to the outer bins.
            index = index * b + np.searchsorted(edges[1:-1], desc[:, d], side="right")
        return index

    def insert_batch(self, first: int, losses: np.ndarray, desc: np.ndarray) -> None:
        """Offer solutions ``first, first + 1, ...`` (ids = buffer positions) in order,
        remapping whenever the schedule says so."""
        n, b = self.n_buffered, losses.size
        if first != n:
            raise RuntimeError("solution ids must be buffer positions")
        while n + b > self.buf_loss.size:
            self.buf_loss = np.concatenate(
                [self.buf_loss, np.empty_like(self.buf_loss)]
            )
            self.buf_desc = np.concatenate(
                [self.buf_desc, np.empty_like(self.buf_desc)]
            )
        self.buf_loss[n : n + b], self.buf_desc[n : n + b] = losses, desc
        cells = self.cells(desc)
        for i in range(b):
            cell, loss = cells[i], losses[i]
            if self.sid[cell] < 0 or loss < self.loss[cell]:
                self.sid[cell], self.loss[cell], self.desc[cell] = n + i, loss, desc[i]
            self.n_buffered = n + i + 1
            if self.n_buffered >= self.next_remap:
                self.remap()
                self.next_remap += self.remap_every
                cells[i + 1 :] = self.cells(desc[i + 1 :])

    def remap(self) -> None:
        """Edges to the buffer's quantiles, then rebuild the grid from the buffer.

        The buffer holds every solution ever inserted (so all old elites too); solution
        ids are buffer positions.
        """
        n = self.n_buffered
        desc, loss = self.buf_desc[:n], self.buf_loss[:n]
        for d, b in enumerate(self.bins):
            ordered = np.sort(desc[:, d])
            ranks = (np.arange(b) * n) // b
            self.edges[d] = np.append(ordered[ranks], ordered[-1])
        cells = self.cells(desc)
        sids = np.arange(n)
        order = np.lexsort((sids, loss, cells))  # per cell: lowest loss, then oldest
        first = np.ones(n, dtype=bool)
        first[1:] = cells[order[1:]] != cells[order[:-1]]
        winners = order[first]
        self.sid.fill(-1)
        self.loss.fill(np.inf)
        self.sid[cells[winners]] = winners
        self.loss[cells[winners]] = loss[winners]
        self.desc[cells[winners]] = desc[winners]
        self.n_remaps += 1

    def buffer_descriptors(self) -> np.ndarray:
        return self.buf_desc[: self.n_buffered].copy()

    def elite_ids(self) -> np.ndarray:
        return np.sort(self.sid[self.sid >= 0])

    def losses_of(self, sids: np.ndarray) -> np.ndarray:
        return self.buf_loss[sids]

    def descriptors_of(self, sids: np.ndarray) -> np.ndarray:
        return self.buf_desc[sids]
