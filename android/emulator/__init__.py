"""The virtual phone: profiles, virtual sysfs, physics and its adbd."""
