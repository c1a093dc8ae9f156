"""Order domain errors (stable codes, documented in docs/risk.md and docs/ledger.md)."""

from apps.core.errors import BusinessRuleViolation, Conflict, NotFound, ValidationError


class InvalidOrder(ValidationError):
    code = "invalid_order"


class UnknownInstrument(ValidationError):
    code = "unknown_instrument"


class UnknownAccount(NotFound):
    code = "unknown_account"


class OrderNotFound(NotFound):
    code = "order_not_found"


class DuplicateClientOrderId(Conflict):
    code = "duplicate_client_order_id"


class OrderNotCancelable(BusinessRuleViolation):
    code = "order_not_cancelable"


class OrderNotReplaceable(BusinessRuleViolation):
    code = "order_not_replaceable"
