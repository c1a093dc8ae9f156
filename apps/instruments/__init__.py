"""Instruments (symbol, asset class, currency, tick and lot size) and their reference
prices: the market data that risk checks and the paper broker read. Each instrument has
a ledger asset for its units, created through the ledger's services."""
