// Module Workstation — see ../shared/DESIGN.md for what it owns.
