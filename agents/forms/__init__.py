"""HTML forms of the agents pages. They parse what a browser sends into Python values; the
domain functions (``agents.agents``, ``agents.connections``, ...) decide what is valid and
write. No form here is ever ``save()``d."""

from agents.forms.agents import AgentFilterForm, AgentForm, Fieldset
from agents.forms.common import JsonTextField
from agents.forms.config import ConnectionForm, McpServerForm, SecretForm
from agents.forms.knowledge import (
    MAX_UPLOAD_BYTES,
    MAX_UPLOAD_FILES,
    KnowledgeBaseForm,
    KnowledgeUploadForm,
    UploadedText,
)

__all__ = [
    "MAX_UPLOAD_BYTES",
    "MAX_UPLOAD_FILES",
    "AgentFilterForm",
    "AgentForm",
    "ConnectionForm",
    "Fieldset",
    "JsonTextField",
    "KnowledgeBaseForm",
    "KnowledgeUploadForm",
    "McpServerForm",
    "SecretForm",
    "UploadedText",
]
