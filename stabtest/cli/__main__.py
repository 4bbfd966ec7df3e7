"""`python -m stabtest.cli`: the `stabtest` command."""

import sys

from stabtest.cli import main

sys.exit(main())
