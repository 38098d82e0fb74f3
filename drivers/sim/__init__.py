"""The simulated board: an EV, a meter, a reader and the box's own devices, in software."""
