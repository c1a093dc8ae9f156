"""The ledger: assets, ledger accounts with their stored balances, append-only journal
transactions and entries, and holds. The only code that moves value. Other apps call its
services (``apps.ledger.services``) and read through its selectors; nobody else writes
its tables. PostgreSQL backs every promise: balanced transactions (deferred constraint
trigger), immutable entries (triggers), no negative client balances (CHECK), unique
idempotency keys and a gap-free sequence (unique indexes; numbers assigned by the
sequencer after commit, see ``sequencing.py``)."""
