"""What the model is made of and how it is trained: the spaCy pipeline built in code, the
custom NLU components named in ``config.yml``, and the one training runner."""
