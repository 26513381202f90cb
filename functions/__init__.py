"""The deployable functions: ``functions.azure`` (the coordinator) and ``functions.aws`` (Lambda).

Each function module is an entry point named by infra (a Lambda handler string or a Functions
blueprint); nothing here is imported for side effects.
"""

__all__: list[str] = []
