// Module CardiacModels — see ../shared/DESIGN.md for what it owns.
