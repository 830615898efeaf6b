"""The real node server with its models' runs rigged through files in a control folder, for tests that need a run
to fail or to last: `python -m tests.integration.node.rigged_server CONTROL_DIR`.

- `CONTROL_DIR/poisoned` exists: every run raises as every run does in a CUDA context a sticky error poisoned;
- `CONTROL_DIR/together` exists: a run is given its photos four times over, as when a burst of photos arrives
  together and is read as one batch: a model whose graph takes one image at a time fails with its own error;
- `CONTROL_DIR/hold` exists: a run says so (`CONTROL_DIR/running`) and lasts until `hold` is removed.

Its models say they run on the GPU (`tests.support.rigged_models`), as a node whose device can be poisoned does;
they run on the CPU. Lives with the tests: nothing in the node's package can rig its runs.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from batch_tasks.models import serving
from batch_tasks.models.serving import KindResult
from batch_tasks.node import server
from batch_tasks.ocr.imaging import DecodedImage
from tests.support.rigged_models import RiggedModel, RunBatch

# As ONNX Runtime's CUDA execution provider words a sticky fault (its CudaCall's format)
POISONED = (
    "[ONNXRuntimeError] : 1 : FAIL : CUDA failure 700: an illegal memory access was encountered ; GPU=0 ; "
    "hostname=node ; file=cuda_execution_provider.cc ; line=448 ; expr=cudaStreamSynchronize(stream);"
)
TOGETHER = 4  # photos a run is given for each it got, with `together`: a full batch of the test models
HOLD_AT_MOST_S = 120.0  # a test that never removes `hold` still ends


def rig(control: Path) -> None:
    load = serving.load_model

    def run_rigged(images: Sequence[DecodedImage], run: RunBatch) -> Sequence[KindResult]:
        if (control / "poisoned").exists():
            raise RuntimeError(POISONED)
        (control / "running").touch()
        deadline = time.monotonic() + HOLD_AT_MOST_S
        while (control / "hold").exists() and time.monotonic() < deadline:
            time.sleep(0.02)  # poll period of the control file
        if (control / "together").exists():
            return run([*images] * TOGETHER)[: len(images)]
        return run(images)

    def load_rigged(folder: Path, providers: Sequence[str] | None = None, **options: Any) -> serving.ServedModel:
        return RiggedModel(load(folder, providers, **options), run_rigged)

    serving.load_model = load_rigged


if __name__ == "__main__":
    rig(Path(sys.argv[1]))
    sys.exit(server.main())
