from django.urls import path

from agents.audit import views as audit
from agents.policies import views as policies
from agents.views import agents, connections, knowledge, mcp, outbox, secrets

urlpatterns = [
    path("agents/", agents.agent_list, name="agent_list"),
    path("agents/new/", agents.agent_new, name="agent_new"),
    path("agents/<slug:slug>/", agents.agent_detail, name="agent_detail"),
    path("agents/<slug:slug>/edit/", agents.agent_edit, name="agent_edit"),
    path("agents/<slug:slug>/archive/", agents.agent_archive, name="agent_archive"),
    path("connections/", connections.connection_list, name="connection_list"),
    path("connections/new/", connections.connection_new, name="connection_new"),
    path("connections/<slug:slug>/edit/", connections.connection_edit, name="connection_edit"),
    path("secrets/", secrets.secret_list, name="secret_list"),
    path("secrets/<str:name>/delete/", secrets.secret_delete, name="secret_delete"),
    path("mcp/", mcp.mcp_server_list, name="mcp_server_list"),
    path("mcp/new/", mcp.mcp_server_new, name="mcp_server_new"),
    path("mcp/<slug:slug>/", mcp.mcp_server_detail, name="mcp_server_detail"),
    path("mcp/<slug:slug>/edit/", mcp.mcp_server_edit, name="mcp_server_edit"),
    path("mcp/<slug:slug>/refresh/", mcp.mcp_server_refresh, name="mcp_server_refresh"),
    path("knowledge/", knowledge.knowledge_list, name="knowledge_list"),
    path("knowledge/<slug:slug>/", knowledge.knowledge_detail, name="knowledge_detail"),
    path("knowledge/<slug:slug>/upload/", knowledge.knowledge_upload, name="knowledge_upload"),
    path("outbox/", outbox.outbox_list, name="outbox_list"),
    path("policies/", policies.policy_list, name="policy_list"),
    path("policies/new/", policies.policy_new, name="policy_new"),
    path("policies/<slug:slug>/", policies.policy_detail, name="policy_detail"),
    path("policies/<slug:slug>/edit/", policies.policy_edit, name="policy_edit"),
    path("policies/<slug:slug>/toggle/", policies.policy_toggle, name="policy_toggle"),
    path("policies/<slug:slug>/delete/", policies.policy_delete, name="policy_delete"),
    path("policies/<slug:slug>/simulate/", policies.policy_simulate_page, name="policy_simulate"),
    path("audit/", audit.audit_list, name="audit_list"),
    path("audit/export.csv", audit.audit_export, {"fmt": "csv"}, name="audit_export_csv"),
    path("audit/export.jsonl", audit.audit_export, {"fmt": "jsonl"}, name="audit_export_jsonl"),
]
