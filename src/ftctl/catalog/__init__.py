"""The model catalog: encodings, token limits, prices, dates and capabilities of base models.

It sits at the bottom of the layers with `config`: config checks, datasets, plan and gates read it.
"""
