"""The FIX 4.4 broker adapter, on the QuickFIX engine: a gateway process per FIX session
(``manage.py fix_gateway``) and a local FIX venue for tests and the demo (``manage.py fix_venue``).

Owns its report journal (every message received, stored before the engine advances its
sequence number) and the engine's configuration. Nothing outside this package imports the engine.
"""
