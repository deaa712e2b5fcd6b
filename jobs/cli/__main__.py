"""`python -m jobs.cli` is `pressroom`."""

import sys

from jobs.cli.main import main

sys.exit(main())
