"""The venue simulation: a seeded, deterministic adversarial venue (``venue``), a client side
that drives the real services and jobs (``driver``, ``steps``), an auditor that checks the books
after every step (``auditor``), and the runner that runs seeds, campaigns and shrinks a failing
run (``runner``; ``manage.py simulate``). It owns no tables. See docs/reliability.md."""
