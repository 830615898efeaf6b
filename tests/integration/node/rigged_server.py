"""The real node server with its models' runs rigged through files in a control folder, for tests that need a run
to fail or to last: `python -m tests.integration.node.rigged_server CONTROL_DIR`.

- `CONTROL_DIR/poisoned` exists: every run raises as every run does in a CUDA context a sticky error poisoned;
- `CONTROL_DIR/hold` exists: a run says so (`CONTROL_DIR/running`) and lasts until `hold` is removed.

Lives with the tests: nothing in the node's package can rig its runs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from batch_tasks.models import serving
from batch_tasks.node import server
from batch_tasks.ocr.imaging import DecodedImage

POISONED = "[ONNXRuntimeError] : 1 : FAIL : CUDA failure 700: an illegal memory access was encountered ; GPU=0"
HOLD_AT_MOST_S = 120.0  # a test that never removes `hold` still ends


def rig(control: Path) -> None:
    load = serving.load_model

    def load_rigged(folder: Path, providers: Sequence[str] | None = None, **options: Any) -> serving.ServedModel:
        model = load(folder, providers, **options)
        run = model.run_batch

        def run_batch(images: Sequence[DecodedImage]) -> Sequence[Any]:
            if (control / "poisoned").exists():
                raise RuntimeError(POISONED)
            (control / "running").touch()
            deadline = time.monotonic() + HOLD_AT_MOST_S
            while (control / "hold").exists() and time.monotonic() < deadline:
                time.sleep(0.02)  # poll period of the control file
            return run(images)

        model.run_batch = run_batch  # type: ignore[method-assign]
        return model

    serving.load_model = load_rigged


if __name__ == "__main__":
    rig(Path(sys.argv[1]))
    sys.exit(server.main())
