"""``python -m funkrs.cli``: the same as the ``funkrs`` command."""

from __future__ import annotations

import sys

from funkrs.cli import main

sys.exit(main())
