"""Models of the agents app, one module per concern."""

from agents.models.audit import AuditEvent, AuditVerification
from agents.models.connections import ProviderConnection, Secret, SecretBinding
from agents.models.core import Agent, Effect, OutboxMessage
from agents.models.knowledge import KnowledgeBase, KnowledgeDocument
from agents.models.mcp import McpServer, McpTool
from agents.models.memory import MemoryEntry
from agents.models.policies import Policy
from agents.models.records import Record
from agents.models.toolcalls import ToolCall

__all__ = [
    "Agent",
    "AuditEvent",
    "AuditVerification",
    "Effect",
    "KnowledgeBase",
    "KnowledgeDocument",
    "McpServer",
    "McpTool",
    "MemoryEntry",
    "OutboxMessage",
    "Policy",
    "ProviderConnection",
    "Record",
    "Secret",
    "SecretBinding",
    "ToolCall",
]
