"""``python -m controlroom.supervisor`` (what `make run` runs): the supervisor's exit status."""

import sys

from controlroom.supervisor.core import main

sys.exit(main())
