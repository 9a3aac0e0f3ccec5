from django.apps import AppConfig
from django.conf import settings
from django.db.models.signals import post_save


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry"

    def ready(self):
        from django.db.models import Field, ForeignObject

        from registry.lookups import AnyOf

        Field.register_lookup(AnyOf)
        ForeignObject.register_lookup(AnyOf)  # relations look their lookups up apart from other fields

        from registry import tokens

        post_save.connect(
            tokens.revoke_tokens_on_password_change,
            sender=settings.AUTH_USER_MODEL,
            dispatch_uid="registry.revoke_tokens_on_password_change",
        )

        from registry import audit

        audit.connect_signals()
