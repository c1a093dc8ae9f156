"""The ledger's domain errors, each with a stable code (documented in docs/ledger.md)."""

from apps.core.errors import BusinessRuleViolation, Conflict, NotFound, ValidationError


class InvalidLegs(ValidationError):
    code = "invalid_legs"


class InvalidAmount(ValidationError):
    code = "invalid_amount"


class UnknownAsset(ValidationError):
    code = "unknown_asset"


class UnknownLedgerAccount(NotFound):
    code = "unknown_ledger_account"


class AssetMismatch(ValidationError):
    code = "asset_mismatch"


class Unbalanced(ValidationError):
    code = "unbalanced"


class InvalidIdempotencyKey(ValidationError):
    code = "invalid_idempotency_key"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class InsufficientFunds(BusinessRuleViolation):
    code = "insufficient_funds"


class AlreadyReversed(BusinessRuleViolation):
    code = "already_reversed"


class NotReversible(BusinessRuleViolation):
    code = "not_reversible"


class HoldNotActive(BusinessRuleViolation):
    code = "hold_not_active"


class HoldExceeded(BusinessRuleViolation):
    code = "hold_exceeded"


class AccountNotOpen(BusinessRuleViolation):
    code = "account_not_open"
