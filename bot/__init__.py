"""The Rasa side: the widget channel, the NLU pipeline and its training, evaluation,
retraining from logged chats, and the developer tools."""
