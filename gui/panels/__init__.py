"""The side panels and their controllers: generate.py (the Generate panel), fill.py,
parts.py and style.py (its Fill, every-part and My Style controllers, which use the
panel's public methods only), live.py (the Live accompanist's panel)."""
