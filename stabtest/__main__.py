"""`python -m stabtest`: the same as the `stabtest` command."""

import sys

from stabtest.cli import main

sys.exit(main())
