"""Discovery modules, one per kernel interface (devlib style): each `probe(device)` looks at the device
and returns what it found, or nothing. `android.probe` asks them all and assembles a DeviceInfo."""
