"""Settings: the configuration file and `-o` overrides checked against one schema, Falco's
keys falcoish ignores, `append_output` and the webhook template language.

May import: errors, file_safety, events, syntax, fields, condition, rulefiles.
"""
