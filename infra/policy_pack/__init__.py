"""The CrossGuard policy pack: the same invariants the mock-based tests prove, enforced on a real
``pulumi preview --policy-pack infra/policy_pack``. ``rules`` holds plain functions, ``policies`` wraps
them for pulumi-policy, and ``__main__`` (only run as a program) serves the pack."""

__all__: list[str] = []
