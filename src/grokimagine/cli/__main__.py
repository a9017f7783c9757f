"""``python -m grokimagine.cli``: the ``grokimagine`` command."""

import sys

from grokimagine.cli import main

sys.exit(main())
