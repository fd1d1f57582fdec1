"""ftctl.lineage: which commit, data and settings made a model, and its model card."""
