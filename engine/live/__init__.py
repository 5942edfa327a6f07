"""Live MIDI: the player, ports, the built-in synth and the recorder."""
