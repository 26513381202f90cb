"""agentcage: the governance library every agentcage function runs in-process.

Each concern lives in its own subpackage (``agentcage.trace``, ``agentcage.envelopes``,
``agentcage.tools``, ``agentcage.policy``, ``agentcage.inspect``, ``agentcage.ledger``,
``agentcage.budget``, ``agentcage.models``, ``agentcage.local``, ``agentcage.cli``); the package root
exports only the version and the error base so that importing it stays cheap in a Lambda.
"""

from agentcage.errors import AgentcageError

__all__ = ["AgentcageError", "__version__"]

__version__ = "0.1.0"
