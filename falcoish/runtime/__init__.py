"""Running the rules: the engine (event in, alerts out), hot reload, health counters,
Prometheus metrics, internal alerts, latency, and rule tests.

May import: every stage before it (up to rules).
"""
