"""The command line: `scp-widgets demo`, `scp-widgets emulator`."""
