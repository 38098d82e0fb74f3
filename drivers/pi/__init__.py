"""A Raspberry-Pi-class board: GPIO through gpiozero, the pilot on kernel PWM with an ADS1115,
Modbus meters, a serial badge reader."""
