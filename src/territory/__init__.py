"""territory: design sales territories with mathematical programming.

The package is a pipeline of stages, one module or subpackage each:
``accounts`` -> ``geocode`` -> ``units`` -> ``seed`` -> ``assign`` -> ``travel``
-> ``metrics`` -> ``maps`` / ``export``; :mod:`territory.pipeline` composes them
and :mod:`territory.cli` wires the command line.
"""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
