"""The Celery app and its tasks: thin shells over functions of the domain packages."""
