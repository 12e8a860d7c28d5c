"""Model families. Importing this package registers every family with the registry.

To add a family: write ``zoo/models/<name>.py`` with a builder decorated by
``zoo.registry.register_model``, import it below, and add a recipe in ``recipes/``.
"""

from zoo.models import char_lm, lstm_classifier, seq2seq, simple_rnn_classifier  # noqa: F401
