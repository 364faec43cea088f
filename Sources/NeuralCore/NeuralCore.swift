// Module NeuralCore — see ../shared/DESIGN.md for what it owns.
