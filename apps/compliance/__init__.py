"""Compliance: the alerts that compliance staff must see and act on (``ComplianceAlert``),
raised by the nightly verifications of the tamper-evident records — the ledger's hash chain
(``manage.py verify_ledger``) and the order events' (``manage.py verify_audit``). Other apps
raise alerts through ``services.compliance_alert_raise``; staff read them, read-only, in the
admin. See docs/compliance.md."""
