"""Dashboard callbacks, one module per feature, each with ``register(app)``."""
