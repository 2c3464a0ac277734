"""The compiled, indexed rule set and how it is loaded: load_rules (files -> compiled
rules), the per-event-type index and decision trees, and rule descriptions.

May import: every stage before it (up to config and output).
"""
