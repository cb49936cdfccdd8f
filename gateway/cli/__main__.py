"""``python -m gateway.cli``: how ``serve`` starts its api and worker children."""
import sys

from gateway.cli.server_commands import main

sys.exit(main())
