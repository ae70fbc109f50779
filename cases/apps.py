from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CasesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cases"
    verbose_name = "Cases and ingest"

    def ready(self) -> None:
        from cases.roles import ensure_roles

        # After our permissions exist (they are created by an earlier post_migrate receiver).
        post_migrate.connect(ensure_roles, sender=self, dispatch_uid="cases.ensure_roles")
