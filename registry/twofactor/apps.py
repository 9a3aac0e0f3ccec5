from django.apps import AppConfig


class TwoFactorConfig(AppConfig):
    name = "registry.twofactor"
    label = "twofactor"
    verbose_name = "Two-factor authentication"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from registry.twofactor import services

        # Every way in (login page, admin login, an accepted invitation) logs in through
        # django.contrib.auth.login, so this is the one place that sees them all.
        user_logged_in.connect(services.two_factor_login_started, dispatch_uid="twofactor.login_started")
