from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CasesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cases"
    verbose_name = "Cases and ingest"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

        from cases import signals
        from cases.roles import ensure_roles

        # After our permissions exist (they are created by an earlier post_migrate receiver).
        post_migrate.connect(ensure_roles, sender=self, dispatch_uid="cases.ensure_roles")

        # Sign-in events in the audit trail.
        user_logged_in.connect(signals.audit_signed_in, dispatch_uid="cases.audit_signed_in")
        user_logged_out.connect(signals.audit_signed_out, dispatch_uid="cases.audit_signed_out")
        user_login_failed.connect(
            signals.audit_sign_in_failed, dispatch_uid="cases.audit_sign_in_failed"
        )
        user_locked_out.connect(signals.audit_locked_out, dispatch_uid="cases.audit_locked_out")
