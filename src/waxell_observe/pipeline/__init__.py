"""The data path: every record is journaled on the agent's thread, then drained to its destinations.

- :mod:`~waxell_observe.pipeline.frames` — how runs and records are encoded in the journal;
- :mod:`~waxell_observe.pipeline.journal` — the per-process, memory-mapped, append-only journal
  (its on-disk layout in :mod:`~waxell_observe.pipeline.layout`, reading it in
  :mod:`~waxell_observe.pipeline.reader`, owning and adopting one in
  :mod:`~waxell_observe.pipeline.ownership`);
- :mod:`~waxell_observe.pipeline.plugin` — the record hooks that write it (agent's thread);
- :mod:`~waxell_observe.pipeline.drainer` — the background thread that delivers it, adopting the
  journals of processes that died; :mod:`~waxell_observe.pipeline.drain` — one journal's
  progress per destination;
- :mod:`~waxell_observe.pipeline.store_destination`, :mod:`~waxell_observe.pipeline.remote_destination`
  — the embedded store and a control plane as destinations (:mod:`~waxell_observe.pipeline.destination`
  says what a destination is);
- :mod:`~waxell_observe.pipeline.pipeline` — the process's pipeline: flush, shutdown, report, fork.
"""
