"""Control-pilot and proximity-pilot drivers for a real board: kernel hardware PWM through sysfs
(`sysfs_pwm`), an ADS1115 ADC over I2C (`ads1115`), CP classification (`cp_sensor`), the
ControlPilot implementation (`control_pilot`) and PP decoding (`proximity`). Buses and paths are
injected; `fakes` holds stand-ins for tests. See docs/hardware.md."""
