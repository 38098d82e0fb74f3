"""GPIO drivers for a Raspberry-Pi-class board, built on gpiozero.

Every driver takes the pin factory as a constructor argument (`pin_factory=None` means
gpiozero's default, lgpio on a Pi 5); tests inject `MockFactory(pin_class=MockPWMPin)`.
Pin numbers are BCM numbers (or gpiozero pin names such as "GPIO17"). Anything that depends on
time uses the injected `hal.clock.Clock`. See docs/hardware.md."""
