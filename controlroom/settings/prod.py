"""Production: behind a TLS-terminating proxy. The HTTPS knobs come from ``ENV.https``
(controlroom/env/https.py: ``HttpsEnv`` says what each defaults to and how to hand it to the proxy);
README "Deployment" explains what `manage.py check --deploy` may still say."""

from controlroom.settings.base import *  # noqa: F403
from controlroom.settings.base import CONTROLROOM, ENV

SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_PROXY_SSL_HEADER = ENV.https.proxy_ssl_header
SECURE_SSL_REDIRECT = ENV.https.ssl_redirect
SECURE_REDIRECT_EXEMPT = list(ENV.https.redirect_exempt)
SECURE_HSTS_SECONDS = ENV.https.hsts_seconds
SECURE_HSTS_INCLUDE_SUBDOMAINS = ENV.https.hsts_include_subdomains
SECURE_HSTS_PRELOAD = ENV.https.hsts_preload
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False
# Unset CONTROLROOM_EMAIL_URL still prints e-mail to the log, but `manage.py check` and the
# outbox page then warn that nothing is delivered (controlroom/mail.py).
CONTROLROOM["EMAIL_MUST_DELIVER"] = True
