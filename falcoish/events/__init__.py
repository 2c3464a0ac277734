"""What an event is: the `Event` record and its schema, the event-type table with Falco's
parameter names, and the value types fields produce.

May import: errors, file_safety only (the first stage).
"""
