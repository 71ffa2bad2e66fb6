"""IMDB sentiment: data, models, training, export (`python -m training sentiment`)."""
