"""Self-contained demo: a bundled minimal CSMS lets `chargepoint demo` show a full
OCPP session on one machine without an external backend."""
