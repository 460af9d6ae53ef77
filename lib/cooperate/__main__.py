import sys

from cooperate.cli import main

sys.exit(main())
