"""The condition language made executable: typed constants, operators (regex, pmatch,
glob), transformers, and the compiler that turns a resolved syntax tree into a predicate.

May import: errors, events, syntax, fields.
"""
