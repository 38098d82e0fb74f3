"""Per-EVSE IEC 61851 logic: pilot arithmetic, CP debouncing and the safety-owning controller."""
