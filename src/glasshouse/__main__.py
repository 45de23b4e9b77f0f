import sys

from glasshouse.entrypoints.cli import main

sys.exit(main())
