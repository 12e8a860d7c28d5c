"""Model families, one module each. The registry imports every module here, so adding a
family is writing ``zoo/models/<name>.py`` with a builder decorated by
``zoo.registry.register_model`` (and a recipe in ``recipes/`` to train it)."""
