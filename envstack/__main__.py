import sys

from envstack.cli import main

sys.exit(main())
