"""Records management: retention (what is past it), self-verifying exports of the hash chains
for write-once storage, and GDPR pseudonymisation of a former client.

- **Retention** (``retention_report``): per record class of ``settings.RECORDS_RETENTION``, how
  many rows are past their retention period as of a date, the oldest, and when it became
  eligible. Read-only: nothing is ever deleted here (ledger, order-event and audit rows are
  append-only in the database anyway).
- **Export** (``records_export``): a contiguous range of links of the ledger chain and of the
  order-event chain, one JSON Lines file per chain, each line the record's canonical content
  exactly as hashed (``apps.core.chain``) with its sequence, content hash, previous chain hash
  and chain hash; plus ``manifest.json`` (ranges, first previous hash, last chain hash, each
  file's SHA-256) and ``manifest.sha256`` (the manifest's own SHA-256, ``sha256sum -c`` format).
- **Offline verification** (``export_verify``): recomputes every content hash and link from the
  export alone, without the database, and reports the first broken link.
- **Pseudonymisation** (``client_pseudonymise``): replaces a former client's personal data on
  the user row with a stable pseudonym, deactivates the user, and records it in the audit log.
"""

from apps.compliance.records.export import EXPORT_CHAINS, MANIFEST, MANIFEST_SHA256, records_export
from apps.compliance.records.export_check import export_verify
from apps.compliance.records.pseudonymise import client_pseudonymise
from apps.compliance.records.retention import retention_report, years_later

__all__ = [
    "EXPORT_CHAINS",
    "MANIFEST",
    "MANIFEST_SHA256",
    "client_pseudonymise",
    "export_verify",
    "records_export",
    "retention_report",
    "years_later",
]
