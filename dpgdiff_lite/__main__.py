import sys

from dpgdiff_lite.cli import main

if __name__ == "__main__":  # a worker process of the parallel runner imports this module again
    sys.exit(main())
