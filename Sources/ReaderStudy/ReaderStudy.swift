// Module ReaderStudy — see ../shared/DESIGN.md for what it owns.
