"""`python -m scp_widgets.emulator [options]`: see `command.py`."""

import sys

from .command import main

sys.exit(main())
