// Module SignalKit — see ../shared/DESIGN.md for what it owns.
