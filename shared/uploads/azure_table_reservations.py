"""ReservationStore on Azure Table storage: table `uploads`, PartitionKey = site id, RowKey = `{device}|{photo}`.

A reservation is created only if absent; on a conflict the stored row is read back, so concurrent and
repeated requests for the same ids all see the first request's name.
"""

from __future__ import annotations

from datetime import datetime

from azure.data.tables import TableServiceClient

from shared.adapters.azure_errors import call
from shared.errors import Conflict
from shared.uploads.ports import Reservation

UPLOADS = "uploads"


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
