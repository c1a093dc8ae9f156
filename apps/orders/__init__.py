"""Orders: the order, its FIX-style state machine (``state``), its append-only event
timeline (the record a regulator asks for), fills, and positions with average cost and
realized P&L. Services place, cancel, replace and expire orders and book execution reports;
they call the risk app for pre-trade checks and the ledger for holds and fills."""
