import sys
from pathlib import Path

HANDLERS = Path(__file__).resolve().parents[3] / "handlers"
if str(HANDLERS) not in sys.path:
    sys.path.insert(0, str(HANDLERS))  # the Lambda task root: `retrain_and_promote` is a top-level package
