"""Event sources: where the engine's events come from.

Pipeline step 1 (input).  `replay` reads recorded JSON-lines files (plain or gzip, or
stdin) into `Event`s; `record` writes events in the same format, so a live capture can be
saved (`falcoish run --record FILE`) and replayed exactly.  The live eBPF capture lives in
`sources.live`.  The record format is documented in docs/events.md and docs/event.schema.json.
"""
