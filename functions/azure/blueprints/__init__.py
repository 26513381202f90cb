"""The coordinator's function blueprints, one module per concern; ``function_app.py`` registers them."""

__all__: list[str] = []
