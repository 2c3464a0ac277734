"""The `falcoish` command: one module per subcommand, Falco's flags rewritten into them.

The last stage: it may import every other package; nothing imports it.
"""
