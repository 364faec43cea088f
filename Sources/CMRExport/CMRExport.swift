// Module CMRExport — see ../shared/DESIGN.md for what it owns.
