"""Developer tools: the process runner behind ``make run`` and the terminal chat."""
