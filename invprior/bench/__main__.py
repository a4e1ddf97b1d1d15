"""``python -m invprior.bench``: see ``invprior.bench.run``."""

import sys

from .run import main

sys.exit(main())
