"""Plumbing shared by every app: the error hierarchy with stable codes, the problem+json
handler, request context (actor, correlation id, source IP), decimal helpers, the system
actor, and the transaction-retry helper. No business logic lives here."""
