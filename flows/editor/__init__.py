"""The flow editor: the page that mounts the React Flow island (``views``) and the templates
gallery a new flow starts from (``gallery``). The island itself is ``frontend/editor``; what it
changes goes through the JSON API (``flows.api``)."""
