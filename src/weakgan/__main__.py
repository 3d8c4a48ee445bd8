import sys

from weakgan.cli import main

sys.exit(main())
