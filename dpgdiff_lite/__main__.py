import sys

from dpgdiff_lite.cli import main

sys.exit(main())
