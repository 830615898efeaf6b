"""The chaos run's field devices: several crews uploading at once through `sitelens upload`'s engine, with
the duplicates the pipeline must collapse.

Each device uploads its photos one after another. A seeded share of photos is uploaded a second time by
the same device with the same photo id (a device that lost its connection before it saw the reply, and
tries again); another share has its BlobCreated event posted again to the host's Event Grid endpoint, two
or three times (Event Grid's at-least-once delivery). A photo whose upload fails outright (the API was
down through every retry) is tried again by the device, a bounded number of times.
"""

from __future__ import annotations

import json
import random
import threading
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sitelens.api_client import ApiClient
from sitelens.chaos_stack import ChaosStack
from sitelens.upload import Outcome, Uploader
from sitelens.upload_command import http_requester

DEVICE_TRIES = 5  # whole uploads per photo, each with the engine's own retries
EVENT_PATH = "/runtime/webhooks/blobs?functionName=Host.Functions.on_photo_uploaded"


@dataclass
class Devices:
    stack: ChaosStack
    site: str
    seed: int
    count: int = 4
    reupload_share: float = 0.03
    redeliver_share: float = 0.03
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # path → the device's final outcome
    second: dict[str, Outcome] = field(default_factory=dict)  # path → the outcome of its upload again
    faults: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        rng = random.Random(self.seed * 7919 + 3)
        self._plan: dict[int, tuple[bool, int]] = {}  # photo index → (upload again?, extra event deliveries)
        self._rng = rng

    def upload(self, paths: list[Path]) -> None:
        for index in range(len(paths)):
            roll = self._rng.random()
            again = roll < self.reupload_share
            redeliver = self.reupload_share <= roll < self.reupload_share + self.redeliver_share
            extra = self._rng.choice((2, 3)) if redeliver else 0
            self._plan[index] = (again, extra)
        # Read once: the fault schedule rewrites the stack file whenever it restarts a process.
        self._api = ApiClient.of_stack(self.stack.state_dir)
        crews = [list(enumerate(paths))[d :: self.count] for d in range(self.count)]
        with ThreadPoolExecutor(self.count) as pool:
            for done in pool.map(self._crew, range(self.count), crews):
                del done

    def _crew(self, device: int, photos: list[tuple[int, Path]]) -> int:
        uploader = Uploader(http_requester(self._api.base, self._api.key), site=self.site, device=f"chaos-cam-{device}")
        for index, path in photos:
            outcome = uploader.upload(path)
            for _ in range(DEVICE_TRIES - 1):
                if outcome.job_id:
                    break
                outcome = uploader.upload(path)
            again, extra = self._plan[index]
            with self._lock:
                self.outcomes[str(path)] = outcome
            if again and outcome.job_id:
                repeat = uploader.upload(path)
                with self._lock:
                    self.second[str(path)] = repeat
                    self.faults["duplicate_upload"] += 1
            if extra and outcome.blob_name and outcome.etag:
                for _ in range(extra):
                    if self._deliver_again(outcome.blob_name, outcome.etag):
                        with self._lock:
                            self.faults["duplicate_event"] += 1
        return len(photos)

    def _deliver_again(self, name: str, etag: str) -> bool:
        """The blob's BlobCreated event as Event Grid posts it; False if the host was down at that moment."""
        url = self.stack.functions_url
        blob = f"http://127.0.0.1/devstoreaccount1/photos/{name}"
        event = [{"eventType": "Microsoft.Storage.BlobCreated",
                  "subject": f"/blobServices/default/containers/photos/blobs/{name}",
                  "data": {"url": blob, "eTag": etag, "blobType": "BlockBlob", "api": "PutBlockList"}}]  # fmt: skip
        request = urllib.request.Request(
            url + EVENT_PATH, data=json.dumps(event).encode(), method="POST",
            headers={"aeg-event-type": "Notification", "Content-Type": "application/json",
                     "x-functions-key": self.stack.keys["master"]},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return bool(response.status == 202)
        except (urllib.error.URLError, OSError):
            return False
