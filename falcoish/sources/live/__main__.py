"""`python -m falcoish.sources.live`: install BCC and kernel headers where missing, then check."""

from .setup import main

raise SystemExit(main())
