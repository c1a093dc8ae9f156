"""Pre-trade risk (SEC 15c3-5, MiFID II RTS 6): trading states at three levels (the kill
switch), the restricted list, per-account limits with firm defaults, and the checks run
inside the placing transaction, each with a stable reason code (docs/risk.md)."""
