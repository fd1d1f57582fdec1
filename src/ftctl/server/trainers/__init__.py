"""The local server's trainers behind one seam: `base.Trainer` (what a trainer is and the
events it emits), `registry` (which trainers run, which one serves a model), and one
folder per trainer (`numpy_lm`: the numpy `local-tiny`)."""
