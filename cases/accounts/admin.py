"""Django's user admin plus the two-factor actions (issue an enrolment code, reset devices)."""

from datetime import timedelta

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.template.response import TemplateResponse
from django.views.decorators.cache import add_never_cache_headers

from cases.accounts.enrolment import otp_devices_reset, otp_enrolment_issue
from cases.errors import CaseError

admin.site.unregister(get_user_model())


@admin.register(get_user_model())
class FraudCaseUserAdmin(UserAdmin):
    """Django's user admin plus the two-factor actions, each one call of an audited service."""

    actions = ["issue_enrolment_code", "reset_two_factor_devices"]

    @admin.action(description="Issue two-factor enrolment code")
    def issue_enrolment_code(self, request, queryset):
        """Codes are shown on a page of their own, once (not in a message cookie)."""
        ttl = timedelta(hours=settings.FRAUDCASE_OTP_ENROLMENT_CODE_HOURS)
        issued = []
        for user in queryset.order_by("username"):
            try:
                issued.append(otp_enrolment_issue(actor=request.user, user_id=user.pk, ttl=ttl))
            except CaseError as error:
                self.message_user(request, f"{user.username}: {error.message}", messages.ERROR)
        if not issued:
            return None
        response = TemplateResponse(
            request,
            "registration/enrolment_codes_issued.html",
            {**self.admin_site.each_context(request), "title": "Enrolment codes", "issued": issued},
        )
        add_never_cache_headers(response)
        return response

    @admin.action(description="Reset two-factor devices")
    def reset_two_factor_devices(self, request, queryset):
        for user in queryset.order_by("username"):
            try:
                removed = otp_devices_reset(actor=request.user, user_id=user.pk)
            except CaseError as error:
                self.message_user(request, f"{user.username}: {error.message}", messages.ERROR)
            else:
                self.message_user(
                    request,
                    f"{user.username}: {removed} two-factor device(s) removed; they need a new "
                    "enrolment code to sign in.",
                    messages.SUCCESS,
                )
