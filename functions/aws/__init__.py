"""The AWS Lambda functions: the data services (:mod:`functions.aws.services`), the tool executor and
the bridge back to Azure. Each module exposes ``handler(event, context)``; importing one builds no
SDK client and makes no network call.
"""

__all__: list[str] = []
