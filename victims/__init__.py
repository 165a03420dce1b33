"""Victim models: the embedded catdog-mini, the Kaggle Dogs-vs-Cats CNN, any saved Keras model."""
