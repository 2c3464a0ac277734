"""Formatted and delivered: alert text and JSON in Falco's shapes, channels (stdout,
file, program, http, syslog) with retries, journal and spool.

May import: errors, events, syntax, fields, condition, rulefiles, config.
"""
