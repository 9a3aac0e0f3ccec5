"""The patient portal: `/me/` and the report forms for patients, and the invitation pages that
turn a record staff created into a patient's own login."""

from django.urls import path

from portal.views import accounts, home, reports

app_name = "portal"

urlpatterns = [
    # A patient's own pages (portal/views/home.py)
    path("me/", home.me, name="me"),
    path("me/consent/", home.consent, name="consent"),
    path("me/settings/", home.settings, name="settings"),
    # Self-reports (portal/views/reports.py): a new report step by step, and corrections
    path("me/reports/new/", reports.new_report, name="report-new"),
    path("me/reports/new/<slug:step>/", reports.new_report_step, name="report-new-step"),
    path("me/reports/<uuid:report>/", reports.report_detail, name="report-detail"),
    path("me/reports/<uuid:report>/edit/", reports.correct_report, name="report-correct"),
    path("me/reports/<uuid:report>/edit/<slug:step>/", reports.correct_report_step, name="report-correct-step"),
    # Invitations and self-registration (portal/views/accounts.py)
    path("invitations/renew/", accounts.invitation_renew, name="invitation-renew"),
    path("invitations/<str:token>/", accounts.invitation_accept, name="invitation-accept"),
    path("register/", accounts.register, name="register"),
]
