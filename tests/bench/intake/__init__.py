"""The webhook benchmark's comparator: an insert-only Django endpoint, served by uvicorn with
the project's ASGI application and middleware, that the benchmark mounts itself
(``DJANGO_SETTINGS_MODULE=tests.bench.intake.settings``)."""
