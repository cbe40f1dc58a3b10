"""Everything that touches a device: the Device interface, SoC maps, probing, the virtual phone."""
