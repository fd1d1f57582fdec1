"""ftctl: declarative config-as-code for fine-tuned language models."""

__version__ = "0.1.0"
