"""The access log, below every app: its tables (``models``), appending events to the hash chain
(``services``), walking the chain and alerting on a break (``verification``), the chain's
arithmetic (``chain``), the access-logged admin pages and the log's own read-only admin
(``admin``), and the nightly check (``tasks``, ``manage.py verify_audit_log``)."""
