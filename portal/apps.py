from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Patient portal"

    def ready(self):
        from django.contrib.auth.signals import user_logged_in

        from portal import signals

        user_logged_in.connect(signals.patient_time_zone_on_login, dispatch_uid="portal.patient_time_zone_on_login")
