"""Trading accounts: number, name, base currency, status and owners; the guardian
object-permission tables (view, trade) and the one permission policy. Cash moves through
the ledger's services, never here."""
