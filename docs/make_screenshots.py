"""Make the pictures in docs/images from the demo: `python docs/make_screenshots.py`.

The work is done by `bot.screenshots` (see there); `--help` lists the options.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.screenshots import main

if __name__ == "__main__":
    sys.exit(main())
