"""The agentcage Pulumi program: ``__main__`` composes the components; everything else is importable
without creating resources (configuration, packaging, the API definition, IAM documents, bindings)."""

__all__: list[str] = []
