"""Rule files as written, collected and resolved: YAML items with their locations, Falco's
append/override/redefine across files, exceptions, macros and lists resolved on the tree.

May import: errors, file_safety, events, syntax, fields, condition.
"""
