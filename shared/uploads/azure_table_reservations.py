"""ReservationStore on Azure Table storage: table `uploads`, PartitionKey = site id, RowKey = `{device}|{photo}`.

A reservation is created only if absent; on a conflict the stored row is read back, so concurrent and
repeated requests for the same ids all see the first request's name.

Beside a device's reservations, one counter row, RowKey `{device}|~new` (`~` is never in a photo id, so no
reservation has that key), counts the device's new reservations in the current window: `Window` and
`Count`, replaced in place when the window changes, so a device costs one row however long it runs. Every
write is conditional on the row's ETag, so concurrent requests never count one reservation twice or lose one.
"""

from __future__ import annotations

from datetime import datetime

from azure.core import MatchConditions
from azure.data.tables import TableServiceClient, UpdateMode

from shared.adapters.azure_errors import call
from shared.errors import Conflict, NotFound, TransientError
from shared.uploads.ports import Reservation

UPLOADS = "uploads"
COUNTER = "~new"  # the counter row's photo part: outside shared.uploads.naming.ID, so never a photo id
MAX_RACES = 5  # concurrent new reservations of one device: the loser re-reads the counter and counts again


def row_key(device_id: str, photo_id: str) -> str:
    return f"{device_id}|{photo_id}"  # ids never contain '|' (shared.uploads.naming.ID)


class TableReservationStore:
    def __init__(self, service: TableServiceClient, prefix: str = "") -> None:
        # A prefix (SITELENS_TABLE_PREFIX) lets environments and tests share one account.
        self._table = call("uploads table", service.create_table_if_not_exists, prefix + UPLOADS)

    def reserve(self, reservation: Reservation) -> tuple[Reservation, bool]:
        entity = {
            "PartitionKey": reservation.site_id,
            "RowKey": row_key(reservation.device_id, reservation.photo_id),
            "Ext": reservation.ext,
            "BlobName": reservation.blob_name,
            "CreatedAt": reservation.created_at.isoformat(),
        }
        try:
            call("upload reservation", self._table.create_entity, entity)
        except Conflict:  # reserved before: the first request's name stands
            return self.get(reservation.site_id, reservation.device_id, reservation.photo_id), False
        return reservation, True

    def get(self, site_id: str, device_id: str, photo_id: str) -> Reservation:
        e = call("upload reservation", self._table.get_entity, site_id, row_key(device_id, photo_id))
        created = datetime.fromisoformat(e["CreatedAt"])
        return Reservation(site_id, device_id, photo_id, e["Ext"], e["BlobName"], created)

    def release(self, site_id: str, device_id: str, photo_id: str, blob_name: str) -> bool:
        try:
            row = call("upload reservation", self._table.get_entity, site_id, row_key(device_id, photo_id))
        except NotFound:
            return False
        if row.get("BlobName") != blob_name:
            return False  # the ids were reserved again since, for another photo
        call("upload reservation", self._table.delete_entity, row, etag=row.metadata["etag"],
             match_condition=MatchConditions.IfNotModified)  # fmt: skip
        return True

    def count_new(self, site_id: str, device_id: str, window: str, cap: int) -> bool:
        key = row_key(device_id, COUNTER)
        for _ in range(MAX_RACES):
            try:
                row = call("upload counter", self._table.get_entity, site_id, key)
            except NotFound:
                try:
                    counter = {"PartitionKey": site_id, "RowKey": key, "Window": window, "Count": 1}
                    call("upload counter", self._table.create_entity, counter)
                    return True
                except Conflict:
                    continue  # another request created it first: count on top of it
            count = int(row["Count"]) if row.get("Window") == window else 0
            if count >= cap:
                return False
            try:
                call("upload counter", self._table.update_entity, {**row, "Window": window, "Count": count + 1},
                     mode=UpdateMode.REPLACE, etag=row.metadata["etag"],
                     match_condition=MatchConditions.IfNotModified)  # fmt: skip
                return True
            except Conflict:
                continue  # counted by a concurrent request since the read: read again
        raise TransientError(f"the new-reservation counter of device {device_id!r} kept changing; retry")
