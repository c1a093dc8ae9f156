"""The compliance desk: the admin index for compliance staff (open exception-queue items,
unacknowledged alerts, halted and reducing scopes, the controls' last runs, sequencer and outbox
lag, the day's report runs). The top layer: it reads every app, owns no data."""
