import sys

from sitelens.cli import main

sys.exit(main())
