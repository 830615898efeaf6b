"""Device uploads: `POST /api/uploads` reserves a server-chosen blob name and hands out a create-only SAS.

- `naming`: ids, extensions and the `photos/{site}/{device}/{yyyy}/{mm}/{dd}/{photo_id}.{ext}` name;
- `ports`: the reservation store and the SAS signer the service needs, and the values they exchange;
- `service`: the use case (reserve once, sign for exactly that blob, say when it is already uploaded);
- `api`: JSON in, (status, JSON or problem document) out;
- `azure_table_reservations`, `azure_blob_sas`: the adapters (Table storage, Blob storage).
"""
