"""The website widget's Rasa input channel (declared in ``credentials.yml``)."""
