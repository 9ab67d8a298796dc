"""Sources: one loader per kind of source, each turning it into an ImageData."""
