"""`python -m labs` is the `latencylab` command."""

import sys

from .cli import main

sys.exit(main())
