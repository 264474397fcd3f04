"""Bot-side code: the spaCy pipeline, the widget channel and the command line."""
