"""Rule text -> syntax tree: the Lark grammar of conditions (`grammar/`), parsed straight
into immutable nodes.

May import: errors only.
"""
