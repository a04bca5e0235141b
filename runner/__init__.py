"""A declarative YAML experiment runner for Hugging Face tokenizers and models, tracked in MLflow."""

__version__ = "0.1.0"
