"""Live source: syscall events from the running machine through eBPF tracepoints (BCC).

Public entry: `LiveCapture` (see capture.py) and `check_live_support()`.  Importing this
package does not import BCC; that happens when a capture starts.
"""

from .capture import LiveCapture, LiveUnavailable, check_live_support

__all__ = ["LiveCapture", "LiveUnavailable", "check_live_support"]
