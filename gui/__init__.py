"""The PySide6 desktop app: thin over the engine; paints, translates gestures, owns undo."""
