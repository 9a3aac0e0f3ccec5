"""/accounts/two-factor/: set up, verify after login, recovery codes, turn off."""

from django.urls import path

from registry.twofactor import views

app_name = "two_factor"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("setup/", views.setup, name="setup"),
    path("verify/", views.verify, name="verify"),
    path("recovery-codes/", views.recovery_codes, name="recovery-codes"),
    path("disable/", views.disable, name="disable"),
]
