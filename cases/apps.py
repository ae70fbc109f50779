from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CasesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "cases"
    verbose_name = "Cases and ingest"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed

        from cases import checks  # noqa: F401  (registers the system checks)
        from cases.accounts import signals
        from cases.audit.model_changes import connect_model_change_receivers, ensure_roles_recorded

        # After our permissions exist (they are created by an earlier post_migrate receiver).
        post_migrate.connect(ensure_roles_recorded, sender=self, dispatch_uid="cases.ensure_roles")

        # Changes to users, groups, permissions, queues, reason codes and two-factor devices
        # made outside our services (the admin above all) in the audit trail, with before/after.
        connect_model_change_receivers()

        # Sign-in events in the audit trail.
        user_logged_in.connect(signals.audit_signed_in, dispatch_uid="cases.audit_signed_in")
        user_logged_out.connect(signals.audit_signed_out, dispatch_uid="cases.audit_signed_out")
        user_login_failed.connect(
            signals.audit_sign_in_failed, dispatch_uid="cases.audit_sign_in_failed"
        )
        user_locked_out.connect(signals.audit_locked_out, dispatch_uid="cases.audit_locked_out")

        # The feature dictionary's system check (fraudcase.E020): a broken file fails check.
        from cases.casefile import feature_dictionary  # noqa: F401
