"""`python -m leanix_auth ...` runs the `leanix-auth` command."""

import sys

from ._cli import main

sys.exit(main())
