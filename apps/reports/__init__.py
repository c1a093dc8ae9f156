"""Reports: the scheduled reports a broker's back office produces every business day — client
statements, the trade blotter, end-of-day positions and mark-to-market, the exceptions report,
the order routing report (after SEC Rule 606) and the order event export (after FINRA CAT).

Owns the report runs (``ReportRun``: kind, period, scope, status, who started it), the files each
run produced (``ReportFile``: stored through Django's storage API with their size and SHA-256),
their deliveries (``ReportDelivery``) and the recipients per kind (``ReportRecipient``). Every
figure comes from the ledger and the records as of the period's end, so a re-run for a past date
yields byte-identical files. See docs/reports.md.
"""
