"""`python -m loadtest`: see loadtest/cli.py."""

import sys

from loadtest.cli import main

# The guard matters: the chaos profile's attackers run in spawned processes, which import
# this module again (as __mp_main__) and must not start another run.
if __name__ == "__main__":
    sys.exit(main())
