"""A safety co-processor over a serial line: the microcontroller generates and senses the
control pilot, switches the contactor (with its mirror-contact feedback), watches the RCM and
enforces the timing; Borne commands it. The protocol is docs/mcu-protocol.md."""
