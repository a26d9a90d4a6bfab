"""HTML pages of agents and what they use: connections, secrets, MCP servers, knowledge bases
and the outbox. Thin: parse, authorise, call one domain function, render.

Who may do what: anyone with a role reads; designers and admins write agents, connections
and knowledge; only admins write secrets and register MCP servers (a server's category decides
what policies do with its tools). Secret values are never rendered, not even back into a form
that failed.
"""
