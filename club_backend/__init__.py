"""A stand-in for the club's booking system: a real HTTP service AceDesk talks to.

FastAPI + uvicorn + SQLite. It knows members, courts and bookings, enforces the club's
rules (24-hour cancellation window, opening hours, no double bookings) and makes every
write idempotent by its ``Idempotency-Key``. In test mode it can also inject faults
(500s, timeouts, dropped connections, before or after the write) so the client's
retries can be tested against the real thing.

Run it with ``python -m club_backend --db PATH`` (see ``__main__``); the contract is
``club_backend/openapi.json``.
"""

TOKEN_ENV = "ACEDESK_CLUB_API_TOKEN"
