"""The staff roles. Each is a Django group created by a migration."""

OPERATIONS = "operations"
COMPLIANCE = "compliance"
ROLES = (OPERATIONS, COMPLIANCE)
