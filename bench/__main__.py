"""``python -m bench [--quick] [--out DIR]``."""

import sys

from bench.run import main

sys.exit(main())
