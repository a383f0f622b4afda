"""The engine layer: run settings and outcomes, the bulk run (concurrency, budget, read-back, cancel), results
and their frames, the journal, its reader and history. It builds on the client layer only."""
