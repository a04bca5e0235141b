"""Does the tokenizer matter for the task? A linear probe per run: bag-of-tokens features built
from the run's batches (features), folds that keep rows sharing a text together and the
scikit-learn fits (probe). Imports config, errors and the tokenization room's Batch only."""
