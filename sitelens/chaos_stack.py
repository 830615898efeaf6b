"""The local stack with the fault proxy between storage and everything that talks to it.

The Functions host, the Batch service (task inputs) and the node servers get a connection string whose
blob, queue and table endpoints are the proxies' ports instead of Azurite's; devices reach the proxy too,
through the SAS URLs the upload API builds from the app's connection. Only the run's own set-up and its
final checks talk to Azurite directly, so they are never faulted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from emulators.fault_proxy import FaultProxy, Faults
from shared.config import dev_storage_connection_string
from sitelens.stack import Stack

# The node's result writes (`results/{job_id}/...`): a chosen share of jobs has one attempt's writes refused.
RESULT_WRITES = (b"/results/",)


@dataclass
class ChaosStack(Stack):
    faults: Faults = field(default_factory=Faults)
    seed: int = 0
    proxies: dict[str, FaultProxy] = field(default_factory=dict)
    # Azurite is never killed in a run, and saved to disk it rewrote its whole database every 5 s: at 4,000
    # photos, 44 MB each time, the run's largest cost that grew with the photos.
    azurite_in_memory: bool = True

    def storage_connection(self) -> str:
        assert self.azurite is not None
        if not self.proxies:
            e = self.azurite.endpoints
            targets = {"blob": e.blob_port, "queue": e.queue_port, "table": e.table_port}
            for offset, (name, port) in enumerate(targets.items()):
                refusing = self.faults if name == "blob" else _without_refusals(self.faults)
                self.proxies[name] = FaultProxy(port, refusing, seed=self.seed * 31 + offset).start()
        ports = (self.proxies["blob"].port, self.proxies["queue"].port, self.proxies["table"].port)
        return dev_storage_connection_string("127.0.0.1", ports)

    def inject(self, on: bool) -> None:
        """Start or stop breaking requests (the stack starts unharmed)."""
        for proxy in self.proxies.values():
            if on:
                proxy.enabled.set()
            else:
                proxy.enabled.clear()

    def proxy_counts(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for proxy in self.proxies.values():
            for kind, n in proxy.counts.items():
                total[kind] = total.get(kind, 0) + n
        return total

    def stop(self) -> None:
        super().stop()
        for proxy in self.proxies.values():
            proxy.stop()


def _without_refusals(faults: Faults) -> Faults:
    return Faults(reset=faults.reset, drop=faults.drop, delay=faults.delay, delay_s=faults.delay_s)
