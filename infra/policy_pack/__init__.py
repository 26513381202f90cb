"""The CrossGuard policy pack: the same invariants the mock-based tests prove, enforced on a real
``pulumi preview --policy-pack infra/policy_pack``. ``rules`` (with ``iam_statements`` and
``sensitive``) holds plain functions over plain values, ``engine_values`` turns the engine's
proxied props into those values, ``policies`` wraps the rules for pulumi-policy, and ``__main__``
(only run as a program) serves the pack."""

__all__: list[str] = []
