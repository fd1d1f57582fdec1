"""Text analysis shared by the data checks and the eval gates (refusal phrases)."""
