import sys

from media_client.cli import main

sys.exit(main())
